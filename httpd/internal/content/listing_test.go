package content

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendListing(t *testing.T) {
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 3600))
	entries := []Entry{
		{Name: "zeta.txt", Size: 12, ModTime: mt},
		{Name: "b dir", IsDir: true, ModTime: mt},
		{Name: `"quoted" <b>&amp;`, Size: 1},
		{Name: "a%20b#c?d", Size: 2},
		{Name: "é.txt", Size: 3},
		{Name: "a:b", Size: 4},
		{Name: "Alpha", IsDir: true},
		{Name: "\xffbad", Size: 5},
		{Name: "ctl\nname", Size: 6},
		{Name: "back\\slash", Size: 7},
		{Name: "sl/ash", Size: 7},
		{Name: "", Size: 8},
		{Name: ".", IsDir: true},
		{Name: "..", IsDir: true},
		{Name: "it's", Size: 9},
	}
	page := string(AppendListing([]byte("X"), "/docs/<x>/", entries))
	if !strings.HasPrefix(page, "X<!DOCTYPE html>") || !utf8.ValidString(page) {
		t.Fatalf("page:\n%s", page)
	}
	page = page[1:]
	for _, want := range []string{
		"<title>Index of /docs/&lt;x&gt;/</title>",
		`<a href="../">../</a>`,
		`<a href="b%20dir/">b dir/</a></td><td>-</td><td>2024-05-06 06:08:09</td>`,
		`<a href="Alpha/">Alpha/</a>`,
		`<a href="%22quoted%22%20%3Cb%3E%26amp%3B">&#34;quoted&#34; &lt;b&gt;&amp;amp;</a></td><td>1</td><td></td>`,
		`<a href="a%2520b%23c%3Fd">a%20b#c?d</a>`,
		`<a href="%C3%A9.txt">é.txt</a>`,
		`<a href="a%3Ab">a:b</a>`,
		`<a href="it%27s">it&#39;s</a>`,
		`<a href="zeta.txt">zeta.txt</a></td><td>12</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, absent := range []string{"bad", "ctl", "slash", `href=""`, `href="./"`, `href="%2E/"`, `href="%2E%2E/"`, `href="./"`} {
		if strings.Contains(page, absent) {
			t.Errorf("page has %s", absent)
		}
	}
	// Order: directories first, then byte order.
	var names []string
	for _, m := range regexp.MustCompile(`<a href="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		names = append(names, m[1])
	}
	want := []string{"../", "Alpha/", "b%20dir/", "%22quoted%22%20%3Cb%3E%26amp%3B", "a%2520b%23c%3Fd", "a%3Ab", "it%27s", "zeta.txt", "%C3%A9.txt"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("links %q\nwant  %q", names, want)
	}
	// Each link, resolved against the page, cleans back to the entry.
	for i, href := range names[1:] {
		p, err := CleanPath(nil, []byte("/docs/"+href))
		if err != nil || string(p.Rel) != "docs/"+listedNames[i] {
			t.Errorf("link %s: %q, %v", href, p.Rel, err)
		}
	}

	// Every row is exactly one link whose text, unescaped, is the name: no
	// name broke out of its attribute or element. (An href holds only
	// unreserved bytes and '%', a text no '<'.)
	row := regexp.MustCompile(`^<tr><td><a href="[A-Za-z0-9._~%/-]*">([^<>"']*)</a></td><td>[-0-9]*</td><td>[-0-9: ]*</td></tr>$`)
	var texts []string
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "<tr><td>") {
			m := row.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("malformed row %s", line)
			}
			texts = append(texts, html.UnescapeString(m[1]))
		}
	}
	wantTexts := []string{"../", "Alpha/", "b dir/", `"quoted" <b>&amp;`, "a%20b#c?d", "a:b", "it's", "zeta.txt", "é.txt"}
	if strings.Join(texts, "|") != strings.Join(wantTexts, "|") {
		t.Errorf("link texts %q\nwant       %q", texts, wantTexts)
	}
}

// listedNames are the reachable file and directory names of
// TestAppendListing after "../", in page order.
var listedNames = []string{"Alpha", "b dir", `"quoted" <b>&amp;`, "a%20b#c?d", "a:b", "it's", "zeta.txt", "é.txt"}

func TestAppendListingRoot(t *testing.T) {
	for _, root := range []string{"/", ""} {
		page := string(AppendListing(nil, root, []Entry{{Name: "a"}}))
		if strings.Contains(page, "../") || !strings.Contains(page, `<a href="a">a</a>`) {
			t.Errorf("root %q:\n%s", root, page)
		}
	}
	page := string(AppendListing(nil, "/x\xff\x01/", nil))
	if !utf8.ValidString(page) || !strings.Contains(page, "Index of /x\uFFFD\uFFFD/") {
		t.Errorf("title not sanitized:\n%s", page)
	}
}
