package orgauth

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// Kind classifies an authentication failure so that the SMTP layer can
// answer 454 4.7.0 (temporary) or 535 5.7.8 and log the cause by name
// (KB979174).
type Kind int

// The kinds of failure.
const (
	// LogonDenied is any rejection without a more precise cause; it is
	// reported as SEC_E_LOGON_DENIED (0x8009030c).
	LogonDenied Kind = iota
	// ClockSkew: the authenticator's time (or the ticket's start time, or
	// the KDC's reply) is more than the allowed skew (5 min) away from our
	// clock. KRB_AP_ERR_SKEW (37), KRB_AP_ERR_TKT_NYV (33).
	ClockSkew
	// TicketExpired: KRB_AP_ERR_TKT_EXPIRED (32).
	TicketExpired
	// Replay: the same authenticator was seen before. KRB_AP_ERR_REPEAT (34).
	Replay
	// NoKey: the keytab holds no key for the ticket's principal (keytab for
	// another principal, or for another encryption type).
	// KRB_AP_ERR_NOKEY (45).
	NoKey
	// StaleKeytab: the keytab holds the principal but not the key version
	// the ticket was made with (the account was re-keyed after the keytab
	// was exported). KRB_AP_ERR_BADKEYVER (44, "BADKVNO"). On the initiator side: our
	// own keytab does not hold the key the KDC used.
	StaleKeytab
	// WrongPrincipal: the ticket is for a service this session does not
	// accept (KRB_AP_ERR_NOT_US, 35), or the KDC holds the name twice
	// (KDC_ERR_PRINCIPAL_NOT_UNIQUE, 8: a duplicate SPN).
	WrongPrincipal
	// NoSuchService: the KDC does not know the service principal (a missing
	// SPN, or one not yet replicated). KDC_ERR_S_PRINCIPAL_UNKNOWN (7).
	NoSuchService
	// UnknownClient: the KDC does not know our own principal.
	// KDC_ERR_C_PRINCIPAL_UNKNOWN (6).
	UnknownClient
	// Integrity: a ticket or authenticator did not decrypt with the key we
	// hold (KRB_AP_ERR_BAD_INTEGRITY, 31: a key mismatch, typically a
	// duplicate SPN or a re-keyed account keeping its kvno), or a wrap token
	// failed its checksum (GSS_S_BAD_SIG, no Kerberos code).
	Integrity
	// KDCUnreachable: no KDC answered (initiator side). KRB5_KDC_UNREACH.
	KDCUnreachable
	// Malformed: a token that is not what the protocol allows at this step.
	Malformed
	// Misconfigured: the local set-up is unusable (no krb5.conf, no keytab,
	// no realm).
	Misconfigured
)

var kindNames = map[Kind]string{
	LogonDenied:    "LogonDenied",
	ClockSkew:      "ClockSkew",
	TicketExpired:  "TicketExpired",
	Replay:         "Replay",
	NoKey:          "NoKey",
	StaleKeytab:    "StaleKeytab",
	WrongPrincipal: "WrongPrincipal",
	NoSuchService:  "NoSuchService",
	UnknownClient:  "UnknownClient",
	Integrity:      "Integrity",
	KDCUnreachable: "KDCUnreachable",
	Malformed:      "Malformed",
	Misconfigured:  "Misconfigured",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// LogonDeniedName is how the generic rejection is named in logs.
const LogonDeniedName = "SEC_E_LOGON_DENIED (0x8009030c)"

// AuthError is a classified GSSAPI authentication failure.
type AuthError struct {
	Kind         Kind
	KerberosCode int32 // RFC 4120 error code, 0 when none applies
	Err          error // the detail
}

func (e *AuthError) Error() string {
	s := "orgauth: " + e.Name()
	if e.Kind == LogonDenied && e.KerberosCode != 0 {
		s += " [" + codeName(e.KerberosCode) + "]"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *AuthError) Unwrap() error { return e.Err }

// Temporary reports whether the failure should be answered (receiving
// side) or treated (sending side) as temporary — 454 4.7.0, the message
// stays queued and is retried — rather than as 535 5.7.8.
//
// Temporary: ClockSkew, TicketExpired, Replay (a fresh authenticator
// succeeds), NoKey, StaleKeytab, WrongPrincipal, NoSuchService,
// UnknownClient (all fixable by the administrator or by directory
// replication while the mail waits: KB979174's SPN, replication and clock
// causes), KDCUnreachable, and Integrity when it is a key mismatch
// (KerberosCode 31, the duplicate-SPN symptom).
//
// Permanent: LogonDenied, Malformed, Misconfigured, and Integrity of a wrap
// token (a forged or corrupted message).
func (e *AuthError) Temporary() bool {
	switch e.Kind {
	case ClockSkew, TicketExpired, Replay, NoKey, StaleKeytab, WrongPrincipal,
		NoSuchService, UnknownClient, KDCUnreachable:
		return true
	case Integrity:
		return e.KerberosCode == errorcode.KRB_AP_ERR_BAD_INTEGRITY
	}
	return false
}

// Name is the error's name for logs: the Kerberos error name when there
// is one ("KRB_AP_ERR_SKEW"), SEC_E_LOGON_DENIED (0x8009030c) for generic
// rejections, or the GSS-API/MIT name of the failure.
func (e *AuthError) Name() string {
	switch e.Kind {
	case LogonDenied:
		return LogonDeniedName
	case KDCUnreachable:
		return "KRB5_KDC_UNREACH"
	}
	if e.KerberosCode != 0 {
		return codeName(e.KerberosCode)
	}
	switch e.Kind {
	case Integrity:
		return "GSS_S_BAD_SIG"
	case Malformed:
		return "GSS_S_DEFECTIVE_TOKEN"
	case StaleKeytab:
		return "KRB_AP_ERR_BADKEYVER"
	case NoKey:
		return "KRB_AP_ERR_NOKEY"
	case ClockSkew:
		return "KRB_AP_ERR_SKEW"
	case Misconfigured:
		return "GSS_S_FAILURE"
	}
	return LogonDeniedName
}

// codeName is the symbolic name of a Kerberos error code.
func codeName(code int32) string {
	s := errorcode.Lookup(code) // "(37) KRB_AP_ERR_SKEW Clock skew too great"
	if i := strings.Index(s, ") "); strings.HasPrefix(s, "(") && i > 0 {
		s = s[i+2:]
		if j := strings.IndexByte(s, ' '); j > 0 {
			s = s[:j]
		}
		return s
	}
	return "KRB_ERROR_" + strconv.Itoa(int(code))
}

// kindOfCode maps a Kerberos error code (from the KDC, or from the
// acceptor's KRB-ERROR token) to a Kind.
func kindOfCode(code int32) Kind {
	switch code {
	case errorcode.KRB_AP_ERR_SKEW, errorcode.KRB_AP_ERR_TKT_NYV:
		return ClockSkew
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		return TicketExpired
	case errorcode.KRB_AP_ERR_REPEAT:
		return Replay
	case errorcode.KRB_AP_ERR_NOKEY:
		return NoKey
	case errorcode.KRB_AP_ERR_BADKEYVER, errorcode.KDC_ERR_PREAUTH_FAILED:
		return StaleKeytab
	case errorcode.KRB_AP_ERR_NOT_US, errorcode.KDC_ERR_PRINCIPAL_NOT_UNIQUE:
		return WrongPrincipal
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		return NoSuchService
	case errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		return UnknownClient
	case errorcode.KRB_AP_ERR_BAD_INTEGRITY, errorcode.KRB_AP_ERR_MODIFIED:
		return Integrity
	}
	return LogonDenied
}

func newErr(kind Kind, code int32, format string, args ...any) *AuthError {
	return &AuthError{Kind: kind, KerberosCode: code, Err: fmt.Errorf(format, args...)}
}

var krbCodeRE = regexp.MustCompile(`KRB Error: \((\d+)\)`)

// classifyClient turns an error from gokrb5's client (AS and TGS
// exchanges) into an AuthError. gokrb5 flattens the KDC's KRB-ERROR into
// the text of a krberror.Krberror, so the code is read back from it.
func classifyClient(err error) *AuthError {
	if err == nil {
		return nil
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae
	}
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return &AuthError{Kind: kindOfCode(ke.ErrorCode), KerberosCode: ke.ErrorCode, Err: err}
	}
	msg := err.Error()
	if m := krbCodeRE.FindStringSubmatch(msg); m != nil {
		if n, perr := strconv.ParseInt(m[1], 10, 32); perr == nil {
			return &AuthError{Kind: kindOfCode(int32(n)), KerberosCode: int32(n), Err: err}
		}
	}
	var kerr krberror.Krberror
	if errors.As(err, &kerr) && kerr.RootCause == krberror.NetworkingError ||
		strings.Contains(msg, "failed to communicate with KDC") ||
		strings.Contains(msg, "communication error with KDC") {
		return &AuthError{Kind: KDCUnreachable, Err: err}
	}
	switch {
	case strings.Contains(msg, "clock skew"):
		return &AuthError{Kind: ClockSkew, KerberosCode: errorcode.KRB_AP_ERR_SKEW, Err: err}
	case strings.Contains(msg, "matching key not found in keytab"):
		return &AuthError{Kind: StaleKeytab, KerberosCode: errorcode.KRB_AP_ERR_BADKEYVER, Err: err}
	case errors.As(err, &kerr) && kerr.RootCause == krberror.DecryptingError:
		return &AuthError{Kind: Integrity, KerberosCode: errorcode.KRB_AP_ERR_BAD_INTEGRITY, Err: err}
	case errors.As(err, &kerr) && kerr.RootCause == krberror.ConfigError:
		return &AuthError{Kind: Misconfigured, Err: err}
	}
	return &AuthError{Kind: LogonDenied, Err: err}
}
