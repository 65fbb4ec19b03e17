package config

import (
	"fmt"
	"strings"
)

// The option words of the configuration become typed values when the
// file is parsed: a word outside its set is a parse error, and no stage
// ever compares configuration strings. (Each is a struct, not a string
// type: the TOML decoder assigns strings and integers to string and
// integer types directly, bypassing UnmarshalText and its check.)

// VirtualServerTLS is a virtual server's TLS mode (RFC 3207).
type VirtualServerTLS struct{ w string }

var (
	VirtualServerTLSNone     = VirtualServerTLS{"none"}     // no STARTTLS
	VirtualServerTLSStartTLS = VirtualServerTLS{"starttls"} // STARTTLS offered (default)
	VirtualServerTLSRequired = VirtualServerTLS{"required"} // STARTTLS before MAIL
)

func (v VirtualServerTLS) String() string               { return v.w }
func (v VirtualServerTLS) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *VirtualServerTLS) UnmarshalText(b []byte) error {
	return word(&v.w, b, "none", "starttls", "required")
}

// DeliveryTLS is the STARTTLS policy towards next hops.
type DeliveryTLS struct{ w string }

var (
	DeliveryTLSOpportunistic = DeliveryTLS{"opportunistic"} // RFC 7435 (default)
	DeliveryTLSRequired      = DeliveryTLS{"required"}
	DeliveryTLSNone          = DeliveryTLS{"none"}
)

func (v DeliveryTLS) String() string               { return v.w }
func (v DeliveryTLS) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *DeliveryTLS) UnmarshalText(b []byte) error {
	return word(&v.w, b, "opportunistic", "required", "none")
}

// BareLF is what a virtual server does with a bare LF or CR in DATA
// (RFC 5321 §2.3.8).
type BareLF struct{ w string }

var (
	BareLFReject    = BareLF{"reject"} // default: safe against SMTP smuggling
	BareLFNormalize = BareLF{"normalize"}
)

func (v BareLF) String() string                { return v.w }
func (v BareLF) MarshalText() ([]byte, error)  { return []byte(v.w), nil }
func (v *BareLF) UnmarshalText(b []byte) error { return word(&v.w, b, "reject", "normalize") }

// SyncMode is how queue writes are made durable.
type SyncMode struct{ w string }

var (
	SyncFS = SyncMode{"syncfs"} // group commit (default)
	FSync  = SyncMode{"fsync"}  // fdatasync per file
)

func (v SyncMode) String() string                { return v.w }
func (v SyncMode) MarshalText() ([]byte, error)  { return []byte(v.w), nil }
func (v *SyncMode) UnmarshalText(b []byte) error { return word(&v.w, b, "syncfs", "fsync") }

// LogLevel is the level of the process log.
type LogLevel struct{ w string }

var (
	LogDebug = LogLevel{"debug"}
	LogInfo  = LogLevel{"info"}
	LogWarn  = LogLevel{"warn"}
	LogError = LogLevel{"error"}
)

func (v LogLevel) String() string               { return v.w }
func (v LogLevel) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *LogLevel) UnmarshalText(b []byte) error {
	return word(&v.w, b, "debug", "info", "warn", "error")
}

// LogFormat is the process log's format.
type LogFormat struct{ w string }

var (
	LogJSON = LogFormat{"json"}
	LogText = LogFormat{"text"}
)

func (v LogFormat) String() string                { return v.w }
func (v LogFormat) MarshalText() ([]byte, error)  { return []byte(v.w), nil }
func (v *LogFormat) UnmarshalText(b []byte) error { return word(&v.w, b, "json", "text") }

// DiagLevel is a category's diagnostic logging level (KB843106: none,
// minimum, medium, maximum).
type DiagLevel struct{ w string }

var (
	DiagNone    = DiagLevel{"none"}
	DiagMinimum = DiagLevel{"minimum"}
	DiagMedium  = DiagLevel{"medium"}
	DiagMaximum = DiagLevel{"maximum"}
)

func (v DiagLevel) String() string               { return v.w }
func (v DiagLevel) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *DiagLevel) UnmarshalText(b []byte) error {
	return word(&v.w, b, "none", "minimum", "medium", "maximum")
}

// word sets *v to the word in b (case-insensitive) when it is one of
// allowed, and otherwise says which words are.
func word(v *string, b []byte, allowed ...string) error {
	w := strings.ToLower(strings.TrimSpace(string(b)))
	for _, a := range allowed {
		if w == a {
			*v = w
			return nil
		}
	}
	return fmt.Errorf("%q is not one of: %s", b, strings.Join(allowed, ", "))
}

// OrgAuthOffer says to whom a virtual server offers X-EXPS.
type OrgAuthOffer struct{ w string }

var (
	// OrgAuthOfferServers: only to a client whose EHLO name is a server of
	// the organization (KB843106: the EHLO name decides trust). The
	// default with a directory file, which cannot lag.
	OrgAuthOfferServers = OrgAuthOffer{"servers"}
	// OrgAuthOfferEveryone: to every client, as Exchange does; an account
	// the directory does not know yet answers 454 4.7.0 (KB979174's
	// replication lag) and a known one whose EHLO name is not its FQDN
	// 504 5.7.4. The default with a replicated (LDAP) directory, where a
	// new server may not have reached this replica yet.
	OrgAuthOfferEveryone = OrgAuthOffer{"everyone"}
)

func (v OrgAuthOffer) String() string               { return v.w }
func (v OrgAuthOffer) MarshalText() ([]byte, error) { return []byte(v.w), nil }
func (v *OrgAuthOffer) UnmarshalText(b []byte) error {
	return word(&v.w, b, "servers", "everyone")
}
