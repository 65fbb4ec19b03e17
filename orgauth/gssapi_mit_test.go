package orgauth

// Interoperability with MIT's GSS-API through python3-gssapi, both ways.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailward/internal/testkdc"
)

// pyInitiator is an RFC 4752 client on MIT's GSS-API. Lines on stdin and
// stdout are base64; mode picks how it wraps its security-layer answer:
// "wrap" (gss_wrap, RRC 0), "sealed" (gss_wrap with confidentiality) or
// "iov" (gss_wrap_iov without a trailer buffer: MIT puts the checksum
// after the header and sets RRC, as Active Directory does).
const pyInitiator = `
import base64, sys
import gssapi, gssapi.raw as graw
mode, target, authzid = sys.argv[1], sys.argv[2], sys.argv[3].encode()
def send(b):
    sys.stdout.write(base64.b64encode(b or b"").decode() + "\n"); sys.stdout.flush()
def recv():
    line = sys.stdin.readline()
    if not line: sys.exit("eof from server")
    line = line.strip()
    if line.startswith("ERR"): sys.exit("server: " + line)
    return base64.b64decode(line)
F = gssapi.RequirementFlag
ctx = gssapi.SecurityContext(name=gssapi.Name(target, gssapi.NameType.hostbased_service), usage="initiate",
    flags=F.mutual_authentication | F.integrity | F.out_of_sequence_detection | F.replay_detection)
send(ctx.step())
chal = recv()
if not ctx.complete:
    if ctx.step(chal): sys.exit("unexpected further context token")
if not ctx.complete: sys.exit("context not complete after the AP-REP")
send(b"")
offer = ctx.unwrap(recv())
if offer.encrypted: sys.exit("security-layer offer was encrypted")
msg = offer.message
if len(msg) != 4 or not (msg[0] & 1): sys.exit("bad offer " + msg.hex())
reply = bytes([1, 0, 0, 0]) + authzid
if mode == "wrap":
    tok = ctx.wrap(reply, False).message
elif mode == "sealed":
    tok = ctx.wrap(reply, True).message
elif mode == "iov":
    iov = graw.IOV(graw.IOVBufferType.header, reply, std_layout=False)
    graw.wrap_iov(ctx, iov, confidential=False)
    tok = iov[0].value + iov[1].value
else:
    sys.exit("mode?")
send(tok)
final = sys.stdin.readline().strip()
print("DONE offer=%s final=%s" % (msg.hex(), final), flush=True)
`

// pyAcceptor is an RFC 4752 server on MIT's GSS-API, keytab from
// KRB5_KTNAME; it answers our initiator.
const pyAcceptor = `
import base64, sys
import gssapi
def send(b):
    sys.stdout.write(base64.b64encode(b or b"").decode() + "\n"); sys.stdout.flush()
def recv():
    line = sys.stdin.readline()
    if not line: sys.exit("eof from client")
    return base64.b64decode(line.strip())
ctx = gssapi.SecurityContext(usage="accept")
out = ctx.step(recv())
if not ctx.complete: sys.exit("context not complete")
send(out)
if recv() != b"": sys.exit("expected an empty response")
send(ctx.wrap(bytes([1, 0, 0, 0]), False).message)
r = ctx.unwrap(recv())
print("DONE client=%s layer=%s" % (ctx.initiator_name, r.message.hex()), flush=True)
`

type pyProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *strings.Builder
	cancel context.CancelFunc
}

// startPython runs script with py (from testkdc.RequirePythonGSSAPI,
// called before the realm is set up so that a missing module costs
// nothing) in the realm's environment.
func startPython(t *testing.T, py string, r *realm, script string, extraEnv []string, args ...string) *pyProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peer.py")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	cmd := exec.CommandContext(ctx, py, append([]string{path}, args...)...)
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KRB5") {
			env = append(env, e)
		}
	}
	cmd.Env = append(append(env, r.kdc.Env()...), extraEnv...)
	p := &pyProc{cmd: cmd, stderr: &strings.Builder{}, cancel: cancel}
	cmd.Stderr = p.stderr
	var err error
	if p.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewScanner(stdout)
	p.out.Buffer(make([]byte, 64*1024), 1<<20)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	return p
}

func (p *pyProc) recv() ([]byte, error) {
	if !p.out.Scan() {
		return nil, fmt.Errorf("peer closed its output: %v; stderr: %s", p.out.Err(), p.stderr.String())
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(p.out.Text()))
}

func (p *pyProc) send(b []byte) error {
	_, err := io.WriteString(p.in, base64.StdEncoding.EncodeToString(b)+"\n")
	return err
}

func (p *pyProc) line(t *testing.T) string {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("peer closed its output; stderr: %s", p.stderr.String())
	}
	return p.out.Text()
}

func (p *pyProc) wait(t *testing.T) {
	t.Helper()
	p.in.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("peer: %v; stderr: %s", err, p.stderr.String())
	}
	p.cancel()
}

// TestMITInitiatorInterop: MIT's GSS-API (python3-gssapi, credentials from
// kinit -k -t) completes the full RFC 4752 exchange against our Acceptor:
// it verifies our AP-REP, unwraps our security-layer offer, and our
// acceptor unwraps its answer whether plain, sealed or rotated (RRC != 0).
func TestMITInitiatorInterop(t *testing.T) {
	py := testkdc.RequirePythonGSSAPI(t)
	r := newRealm(t)
	acc := r.acceptorFrom(t, r.serverKT)
	cc := filepath.Join(r.dir, "client.ccache")
	if err := r.kdc.Kinit(cc, r.clientKT, clientName); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"wrap", "sealed", "iov"} {
		t.Run(mode, func(t *testing.T) {
			p := startPython(t, py, r, pyInitiator, []string{"KRB5CCNAME=FILE:" + cc}, mode, "SMTP@"+serverHost, "relay@example.test")
			s := acc.NewServerSession("SMTP", serverHost)
			var last []byte
			for n := 0; ; n++ {
				if n == 3 {
					t.Fatal("exchange did not finish in 3 steps")
				}
				resp, err := p.recv()
				if err != nil {
					t.Fatal(err)
				}
				last = resp
				chal, done, err := s.Step(resp)
				if err != nil {
					io.WriteString(p.in, "ERR "+err.Error()+"\n")
					t.Fatalf("step %d: %v; python: %s", n, err, p.stderr.String())
				}
				if done {
					io.WriteString(p.in, "OK\n")
					break
				}
				if err := p.send(chal); err != nil {
					t.Fatal(err)
				}
			}
			if got := p.line(t); got != "DONE offer=01000000 final=OK" {
				t.Fatalf("python says %q", got)
			}
			p.wait(t)
			if got, want := s.Principal(), clientName+"@"+testRealm; got != want {
				t.Fatalf("Principal() = %q, want %q", got, want)
			}
			if s.AuthzID() != "relay@example.test" {
				t.Fatalf("AuthzID() = %q", s.AuthzID())
			}
			rrc := binary.BigEndian.Uint16(last[6:8])
			sealed := last[2]&flagSealed != 0
			switch mode {
			case "iov":
				if rrc == 0 {
					t.Fatalf("iov mode: MIT sent RRC 0; the rotated case was not exercised")
				}
			case "sealed":
				if !sealed {
					t.Fatal("sealed mode: token not sealed")
				}
			case "wrap":
				if rrc != 0 || sealed {
					t.Fatalf("wrap mode: rrc %d sealed %v", rrc, sealed)
				}
			}
			t.Logf("%s: client token flags %#02x RRC %d", mode, last[2], rrc)
		})
	}
}

// TestMITAcceptorInterop: our Initiator against MIT's acceptor (which
// answers with an acceptor subkey in its AP-REP).
func TestMITAcceptorInterop(t *testing.T) {
	py := testkdc.RequirePythonGSSAPI(t)
	r := newRealm(t)
	p := startPython(t, py, r, pyAcceptor, []string{"KRB5_KTNAME=FILE:" + r.serverKT})
	ini := r.initiator(t)
	c, err := ini.NewClientSession("SMTP", serverHost)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		if n == 3 {
			t.Fatal("exchange did not finish")
		}
		if err := p.send(resp); err != nil {
			t.Fatal(err)
		}
		chal, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		var done bool
		if resp, done, err = c.Step(chal); err != nil {
			t.Fatalf("step %d: %v; python: %s", n, err, p.stderr.String())
		}
		if done {
			if err := p.send(resp); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if len(c.accKey.KeyValue) == 0 {
		t.Error("MIT's AP-REP carried no acceptor subkey: that path was not exercised")
	}
	if got, want := p.line(t), "DONE client="+clientName+"@"+testRealm+" layer=01000000"; got != want {
		t.Fatalf("python says %q, want %q", got, want)
	}
	p.wait(t)
}
