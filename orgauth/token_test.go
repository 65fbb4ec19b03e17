package orgauth

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

func randomKey(t *testing.T, etype int32, size int) types.EncryptionKey {
	t.Helper()
	k := make([]byte, size)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: k}
}

// TestWrapTokenRRC: wrap tokens, sealed or not, survive any right
// rotation (RFC 4121 §4.2.5) and fail on any altered octet.
func TestWrapTokenRRC(t *testing.T) {
	payload := append([]byte{1, 0, 0, 0}, "authz@example.test"...)
	for _, et := range []struct {
		id   int32
		size int
	}{{17, 16}, {18, 32}, {19, 16}, {20, 32}} {
		key := randomKey(t, et.id, et.size)
		for _, seal := range []bool{false, true} {
			for _, rrc := range []uint16{0, 1, 12, 16, 28, 44, 1000} {
				name := fmt.Sprintf("etype%d/seal=%v/rrc=%d", et.id, seal, rrc)
				tok, err := wrapToken(key, keyusage.GSSAPI_ACCEPTOR_SEAL, flagSentByAcceptor, 77, payload, seal, rrc)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := binary.BigEndian.Uint16(tok[6:8]); got != rrc {
					t.Fatalf("%s: RRC field %d", name, got)
				}
				got, wi, err := unwrapToken(key, keyusage.GSSAPI_ACCEPTOR_SEAL, tok, true)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, payload) || wi.seq != 77 || wi.rrc != rrc {
					t.Fatalf("%s: got %q seq %d rrc %d", name, got, wi.seq, wi.rrc)
				}
				if _, _, err := unwrapToken(key, keyusage.GSSAPI_ACCEPTOR_SEAL, tok, false); err == nil {
					t.Fatalf("%s: token from the acceptor accepted as the initiator's", name)
				}
				if _, _, err := unwrapToken(key, keyusage.GSSAPI_INITIATOR_SEAL, tok, true); !errors.Is(err, errBadSig) {
					t.Fatalf("%s: wrong key usage: %v", name, err)
				}
				for i := 8; i < len(tok); i++ { // seq number and body
					bad := append([]byte{}, tok...)
					bad[i] ^= 0x40
					if _, _, err := unwrapToken(key, keyusage.GSSAPI_ACCEPTOR_SEAL, bad, true); err == nil {
						t.Fatalf("%s: octet %d altered, token accepted", name, i)
					}
				}
			}
		}
	}
}

// TestFrameToken: the GSS-API framing round-trips for short and long
// (multi-octet DER length) tokens and refuses other mechanisms.
func TestFrameToken(t *testing.T) {
	for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 70000} {
		msg := bytes.Repeat([]byte{0xab}, n)
		id, got, err := unframeToken(frameToken(tokAPRep, msg))
		if err != nil || id != tokAPRep || !bytes.Equal(got, msg) {
			t.Fatalf("n=%d: id %x err %v", n, id, err)
		}
	}
	spnego := []byte{0x60, 0x08, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	if _, _, err := unframeToken(spnego); err == nil {
		t.Fatal("SPNEGO token accepted")
	}
	tok := frameToken(tokAPReq, []byte("x"))
	if _, _, err := unframeToken(tok[:len(tok)-1]); err == nil {
		t.Fatal("truncated token accepted")
	}
}

// TestAPRep: our AP-REP decrypts with the session key and echoes the
// authenticator's time and our sequence number.
func TestAPRep(t *testing.T) {
	key := randomKey(t, 18, 32)
	ctime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b, err := marshalAPRep(key, ctime, 123456, 0x1234567)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := decryptAPRep(b, key)
	if err != nil {
		t.Fatal(err)
	}
	if !enc.CTime.Equal(ctime) || enc.Cusec != 123456 || enc.SequenceNumber != 0x1234567 || len(enc.Subkey.KeyValue) != 0 {
		t.Fatalf("got %+v", enc)
	}
	if _, err := decryptAPRep(b, randomKey(t, 18, 32)); err == nil {
		t.Fatal("AP-REP opened with another key")
	}
}

// TestAuthErrorMapping documents Temporary and Name for each kind.
func TestAuthErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		e         AuthError
		temporary bool
		name      string
	}{
		{AuthError{Kind: ClockSkew, KerberosCode: 37}, true, "KRB_AP_ERR_SKEW"},
		{AuthError{Kind: ClockSkew, KerberosCode: 33}, true, "KRB_AP_ERR_TKT_NYV"},
		{AuthError{Kind: TicketExpired, KerberosCode: 32}, true, "KRB_AP_ERR_TKT_EXPIRED"},
		{AuthError{Kind: Replay, KerberosCode: 34}, true, "KRB_AP_ERR_REPEAT"},
		{AuthError{Kind: NoKey, KerberosCode: 45}, true, "KRB_AP_ERR_NOKEY"},
		{AuthError{Kind: StaleKeytab, KerberosCode: 44}, true, "KRB_AP_ERR_BADKEYVER"},
		{AuthError{Kind: WrongPrincipal, KerberosCode: 35}, true, "KRB_AP_ERR_NOT_US"},
		{AuthError{Kind: WrongPrincipal, KerberosCode: 8}, true, "KDC_ERR_PRINCIPAL_NOT_UNIQUE"},
		{AuthError{Kind: NoSuchService, KerberosCode: 7}, true, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{AuthError{Kind: UnknownClient, KerberosCode: 6}, true, "KDC_ERR_C_PRINCIPAL_UNKNOWN"},
		{AuthError{Kind: Integrity, KerberosCode: 31}, true, "KRB_AP_ERR_BAD_INTEGRITY"},
		{AuthError{Kind: Integrity}, false, "GSS_S_BAD_SIG"},
		{AuthError{Kind: KDCUnreachable}, true, "KRB5_KDC_UNREACH"},
		{AuthError{Kind: LogonDenied, KerberosCode: 36}, false, "SEC_E_LOGON_DENIED (0x8009030c)"},
		{AuthError{Kind: LogonDenied}, false, "SEC_E_LOGON_DENIED (0x8009030c)"},
		{AuthError{Kind: Malformed}, false, "GSS_S_DEFECTIVE_TOKEN"},
		{AuthError{Kind: Misconfigured}, false, "GSS_S_FAILURE"},
	} {
		if got := tc.e.Temporary(); got != tc.temporary {
			t.Errorf("%v/%d: Temporary() = %v", tc.e.Kind, tc.e.KerberosCode, got)
		}
		if got := tc.e.Name(); got != tc.name {
			t.Errorf("%v/%d: Name() = %q, want %q", tc.e.Kind, tc.e.KerberosCode, got, tc.name)
		}
	}
	e := &AuthError{Kind: LogonDenied, KerberosCode: 36, Err: errors.New("x")}
	if got := e.Error(); got != "orgauth: SEC_E_LOGON_DENIED (0x8009030c) [KRB_AP_ERR_BADMATCH]: x" {
		t.Errorf("Error() = %q", got)
	}
}

// TestClassifyClient: gokrb5's flattened client errors map back to kinds.
func TestClassifyClient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind Kind
		code int32
	}{
		{messages.NewKRBError(types.PrincipalName{}, "R", 7, ""), NoSuchService, 7},
		{krberror.Errorf(messages.NewKRBError(types.PrincipalName{}, "R", 6, ""), krberror.KDCError, "AS"), UnknownClient, 6},
		{krberror.Errorf(messages.NewKRBError(types.PrincipalName{}, "R", 24, ""), krberror.KDCError, "AS"), StaleKeytab, 24},
		{krberror.Errorf(errors.New("dial: refused"), krberror.NetworkingError, "AS"), KDCUnreachable, 0},
		{krberror.NewErrorf(krberror.KRBMsgError, "clock skew with KDC too large"), ClockSkew, 37},
		{errors.New("matching key not found in keytab. Looking for ..."), StaleKeytab, 44},
		{errors.New("something else"), LogonDenied, 0},
	} {
		ae := classifyClient(tc.err)
		if ae.Kind != tc.kind || ae.KerberosCode != tc.code {
			t.Errorf("%v: kind %v code %d, want %v %d", tc.err, ae.Kind, ae.KerberosCode, tc.kind, tc.code)
		}
	}
}
