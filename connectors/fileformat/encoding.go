package fileformat

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// encodings are the character sets files may be written and read in.
var encodings = map[string]encoding.Encoding{
	"UTF-8":        unicode.UTF8,
	"GBK":          simplifiedchinese.GBK,
	"GB18030":      simplifiedchinese.GB18030,
	"GB2312":       simplifiedchinese.HZGB2312,
	"BIG5":         traditionalchinese.Big5,
	"ISO-8859-1":   charmap.ISO8859_1,
	"ISO-8859-15":  charmap.ISO8859_15,
	"WINDOWS-1252": charmap.Windows1252,
	"UTF-16LE":     unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	"UTF-16BE":     unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
}

var encodingAliases = map[string]string{"UTF8": "UTF-8", "LATIN1": "ISO-8859-1", "ISO8859-1": "ISO-8859-1", "CP1252": "WINDOWS-1252", "CP936": "GBK"}

// EncodingNames lists the encodings, sorted.
func EncodingNames() []string {
	var out []string
	for n := range encodings {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupEncoding finds an encoding by name (case-insensitive); nil for
// UTF-8, which needs no conversion.
func LookupEncoding(name string) (encoding.Encoding, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if a, ok := encodingAliases[n]; ok {
		n = a
	}
	e, ok := encodings[n]
	if !ok {
		return nil, fmt.Errorf("unknown encoding %q; flowgate knows %s", name, strings.Join(EncodingNames(), ", "))
	}
	if n == "UTF-8" {
		return nil, nil
	}
	return e, nil
}
