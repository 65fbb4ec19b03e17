package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzBdatScan: a message received in BDAT chunks, cut anywhere, is
// stored and judged exactly as the same message received with DATA
// (dot-stuffed, then CRLF.CRLF): same octets, same bare LF / bare CR /
// NUL verdicts, same longest line, same trace-field count. This is what
// lets acceptMessage decide both the same way (docs/smtp.md, CHUNKING).
func FuzzBdatScan(f *testing.F) {
	for _, s := range []string{"Received: a\r\nDelivered-To: b\r\nSubject: x\r\n\r\nReceived: body\r\n",
		".\r\n..\r\n", "a\nb\r\n", "a\rb\r\n", "a\r\r\n", "\n\r\n", "x\x00y\r\n", "Received:\rx\r\n\r\n",
		strings.Repeat("long", 300) + "\r\n", "Rec\r\neived: x\r\n",
		"Message-ID:\r\n <a@b>\r\nSubject: x\r\n\r\nMessage-ID: <body>\r\n"} {
		f.Add([]byte(s), uint8(1), uint8(3))
		f.Add([]byte(s), uint8(7), uint8(1))
	}
	f.Fuzz(func(t *testing.T, msg []byte, cut1, cut2 uint8) {
		if !bytes.HasSuffix(msg, []byte("\r\n")) {
			msg = append(append([]byte{}, msg...), "\r\n"...)
		}
		wire := append(stuff(msg), ".\r\n"...)
		var want bytes.Buffer
		wres, err := ReadData(bufio.NewReaderSize(bytes.NewReader(wire), 4096), &want, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		b := newBodyScanner(&got, 1<<20, false)
		// Three chunks, cut where the fuzzer says (CR and LF may part).
		i := min(int(cut1), len(msg))
		j := min(i+int(cut2), len(msg))
		for _, c := range [][]byte{msg[:i], msg[i:j], msg[j:]} {
			b.Write(c)
		}
		gres := b.finish()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("BDAT stored %q, DATA %q", got.Bytes(), want.Bytes())
		}
		if gres != wres {
			t.Fatalf("BDAT judged %+v, DATA %+v, for %q", gres, wres, msg)
		}
	})
}

// The last line of a BDAT message may lack its CRLF (nothing marks the
// end but LAST); it is stored with one, as DATA always stores it.
func TestBdatScanEndsLastLine(t *testing.T) {
	var got bytes.Buffer
	b := newBodyScanner(&got, 100, false)
	b.Write([]byte("Subject: x\r\n\r\nno end"))
	res := b.finish()
	if got.String() != "Subject: x\r\n\r\nno end\r\n" || res.BareCR || res.BareLF {
		t.Fatalf("stored %q, %+v", got.String(), res)
	}
}

// bare_lf = "normalize" stores CRLF for a bare LF or CR, a CR and its LF
// in different chunks being no bare CR.
func TestBdatScanNormalize(t *testing.T) {
	var got bytes.Buffer
	b := newBodyScanner(&got, 100, true)
	for _, c := range []string{"a\nb\r", "\nc\rd\r"} {
		b.Write([]byte(c))
	}
	res := b.finish()
	if got.String() != "a\r\nb\r\nc\r\nd\r\n" || !res.BareLF || !res.BareCR {
		t.Fatalf("stored %q, %+v", got.String(), res)
	}
}
