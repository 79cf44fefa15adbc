package xnattest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
)

// writeStatusPage answers an error the way XNAT's Restlet layer does: an
// HTML "Status page" with the message in <h3>.
func writeStatusPage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html>\n<head>\n   <title>Status page</title>\n</head>\n<body style=\"font-family: sans-serif;\">\n"+
		"<p style=\"font-size: 1.2em;font-weight: bold;margin: 1em 0px;\">%s</p>\n<h3>%s</h3>\n"+
		"<p>You can get technical details <a href=\"http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html\">here</a>.<br>\n</p>\n</body>\n</html>\n",
		html.EscapeString(http.StatusText(code)), html.EscapeString(msg))
}

// writeLoginPage answers 200 with the HTML login page (what a browser, or
// a client of an SSO site, gets for a missing or expired session).
func writeLoginPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "<!DOCTYPE html>\n<html>\n<head><title>XNAT</title></head>\n<body id=\"login\">\n"+
		"<form name=\"form1\" method=\"post\" action=\"/login\">\n"+
		"<input type=\"text\" name=\"username\"><input type=\"password\" name=\"password\">\n"+
		"<button type=\"submit\">Login</button>\n</form>\n</body>\n</html>\n")
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		writeStatusPage(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// table is an XNAT table listing: column order plus rows of strings.
type table struct {
	title string
	cols  []string
	rows  []map[string]string
}

// reservedParams are query parameters that are never column filters.
var reservedParams = map[string]bool{
	"format": true, "columns": true, "sortBy": true, "sortOrder": true,
	"limit": true, "offset": true, "XNAT_CSRF": true, "accept-not-found": true,
}

// filter keeps the rows whose columns match the query's filter parameters
// (exact, or with * wildcards), as XNAT does for listed columns.
func (t *table) filter(q url.Values) {
	for k, vs := range q {
		if reservedParams[k] || len(vs) == 0 {
			continue
		}
		known := false
		for _, c := range t.cols {
			if c == k {
				known = true
			}
		}
		if !known {
			continue
		}
		var kept []map[string]string
		for _, row := range t.rows {
			if wildMatch(vs[0], row[k]) {
				kept = append(kept, row)
			}
		}
		t.rows = kept
	}
}

func wildMatch(pat, s string) bool {
	if !strings.Contains(pat, "*") {
		return pat == s
	}
	parts := strings.Split(pat, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// writeTable renders a listing in the requested format (json, csv,
// otherwise an HTML table).
func writeTable(w http.ResponseWriter, r *http.Request, t *table) {
	q := r.URL.Query()
	t.filter(q)
	switch strings.ToLower(q.Get("format")) {
	case "json":
		rows := t.rows
		if rows == nil {
			rows = []map[string]string{}
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{
			"ResultSet": map[string]interface{}{
				"Result":       rows,
				"totalRecords": itoa(len(rows)),
				"title":        t.title,
			},
		})
	case "csv":
		w.Header().Set("Content-Type", "text/csv")
		w.WriteHeader(http.StatusOK)
		cw := csv.NewWriter(w)
		cw.Write(t.cols)
		for _, row := range t.rows {
			rec := make([]string, len(t.cols))
			for i, c := range t.cols {
				rec[i] = row[c]
			}
			cw.Write(rec)
		}
		cw.Flush()
	default:
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		var b strings.Builder
		b.WriteString("<html><body><table>\n<tr>")
		for _, c := range t.cols {
			b.WriteString("<th>" + html.EscapeString(c) + "</th>")
		}
		b.WriteString("</tr>\n")
		for _, row := range t.rows {
			b.WriteString("<tr>")
			for _, c := range t.cols {
				b.WriteString("<td>" + html.EscapeString(row[c]) + "</td>")
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table></body></html>\n")
		fmt.Fprint(w, b.String())
	}
}

// item is a single-object answer: {"items":[{"meta":…,"data_fields":…,"children":…}]}.
type item struct {
	XSIType  string
	Fields   map[string]string
	Children []child
}

type child struct {
	Field string
	Items []item
}

func (it item) jsonValue() map[string]interface{} {
	fields := map[string]interface{}{}
	for k, v := range it.Fields {
		fields[k] = v
	}
	children := []interface{}{}
	for _, c := range it.Children {
		items := []interface{}{}
		for _, ci := range c.Items {
			items = append(items, ci.jsonValue())
		}
		children = append(children, map[string]interface{}{"field": c.Field, "items": items})
	}
	return map[string]interface{}{
		"meta":        map[string]interface{}{"xsi:type": it.XSIType, "isHistory": false},
		"data_fields": fields,
		"children":    children,
	}
}

// writeItem renders a single object: JSON for format=json, else XML.
func writeItem(w http.ResponseWriter, r *http.Request, it item) {
	if strings.EqualFold(r.URL.Query().Get("format"), "json") {
		writeJSON(w, http.StatusOK, map[string]interface{}{"items": []interface{}{it.jsonValue()}})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<" + it.XSIType + ` xmlns:xnat="http://nrg.wustl.edu/xnat"`)
	for k, v := range it.Fields {
		if v != "" && !strings.Contains(k, "/") {
			b.WriteString(" " + k + `="` + html.EscapeString(v) + `"`)
		}
	}
	b.WriteString("/>\n")
	fmt.Fprint(w, b.String())
}
