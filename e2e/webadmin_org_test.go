package e2e

// The web administration's Organization page on a real organization of
// two servers: the directory's SPNs checked as diag spn checks them, and
// diag auth run from the page against the other server.

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestWebAdminOrganization: mx1's Organization page highlights its
// missing SPN and the SPN both servers carry, and its diag auth button
// walks the real path to mx2 (X-EXPS LOGIN, XEXCH50) and shows every
// step passed; event 1084 records the run.
func TestWebAdminOrganization(t *testing.T) {
	d := orgRecipients(t, "mx1", "mx2")
	homed(d, "mx2", "bob@example.test")
	d.Server("mx1").SPNs = []string{"SMTP/mx1", "SMTP/mx1.example.test", "SMTPSVC/mx1"}
	d.Server("mx2").SPNs = []string{"SMTP/mx2", "SMTP/mx2.example.test", "SMTPSVC/mx2", "SMTPSVC/mx2.example.test", "SMTP/mx1.example.test"}
	mx1 := orgMember("mx1")
	mx1.WebAdmin = webAdminConfig(t)
	servers := startOrgNet(t, d, orgMember("mx2"), mx1)
	base := "http://" + mx1.WebAdmin.Address
	cookie, csrf := httpLogin(t, base)

	code, _, page := webGet(t, base, "/organization", cookie)
	if code != http.StatusOK {
		t.Fatalf("GET /organization: %d", code)
	}
	for _, want := range []string{
		`<tr data-server="mx1" class="problem">`,
		`<div class="spn missing">SMTPSVC/mx1.example.test <strong>MISSING</strong></div>`,
		`<div class="spn duplicate">SMTP/mx1.example.test <strong>DUPLICATE</strong>: also on mx2</div>`,
		`<div class="spn duplicate">SMTP/mx1.example.test <strong>DUPLICATE</strong>: also on mx1</div>`,
		`<div class="spn ">SMTPSVC/mx2.example.test</div>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the Organization page lacks %s", want)
		}
	}

	code, _, body := webPost(t, base, "/organization/diag-auth", cookie,
		url.Values{"server": {"mx2"}, "rcpt": {"bob@example.test"}, "csrf_token": {csrf}})
	steps := regexp.MustCompile(`<tr class="(pass|fail)"><td>([^<]*)</td>`).FindAllStringSubmatch(body, -1)
	var names []string
	for _, s := range steps {
		names = append(names, s[1]+" "+s[2])
	}
	joined := strings.Join(names, "; ")
	if code != http.StatusOK || !strings.Contains(body, "Every step passed.") || strings.Contains(joined, "fail ") ||
		!strings.Contains(joined, "pass X-EXPS") || !strings.Contains(joined, "pass XEXCH50") {
		t.Errorf("diag auth against mx2 from the page: %d, steps: %s", code, joined)
	}
	recs := servers["mx1"].Events(1084)
	if len(recs) != 1 || recs[0].Fields["server"] != "mx2" || recs[0].Fields["result"] != "every step passed" {
		t.Errorf("event 1084: %+v", recs)
	}
}
