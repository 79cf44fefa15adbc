package xnattest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Authentication and logins (XNAT's server sessions; docs/xnat.md, "Logging in and
// staying logged in"): Basic auth, form login, alias tokens, locked
// accounts, the idle timeout, and project roles.

// SetPassword changes a user's password (logins stay valid).
func (s *Server) SetPassword(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		u.password = password
	}
}

// LockUser locks (or unlocks) an account, as XNAT does after too many
// failed logins or when an administrator disables it: logins by password
// or alias token are refused with 401; open logins stay valid.
func (s *Server) LockUser(name string, locked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		u.locked = locked
	}
}

// IssueToken creates an alias token for a user, valid for
// Options.TokenLifetime, as GET /data/services/tokens/issue does.
func (s *Server) IssueToken(name string) (alias, secret string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.issueTokenLocked(name)
	return t.alias, t.secret, t.expires
}

func (s *Server) issueTokenLocked(name string) *token {
	t := &token{alias: newID(8), secret: newID(16), user: name, expires: s.opts.Now().Add(s.opts.TokenLifetime)}
	s.tokens[t.alias] = t
	return t
}

// principal is who a request runs as.
type principal struct {
	user  *user
	guest bool
	login *login
}

func isBrowser(r *http.Request) bool {
	return strings.Contains(r.UserAgent(), "Mozilla/")
}

// authenticate resolves the caller; it writes the answer itself and
// returns ok=false when the request must stop here.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	stale := false
	if c, err := r.Cookie("JSESSIONID"); err == nil && c.Value != "" {
		se := s.logins[c.Value]
		switch {
		case se == nil || se.invalid:
			stale = true
		case now.Sub(se.last) > s.opts.LoginTimeout:
			se.invalid = true
			stale = true
		case se.guest:
			se.last = now
			return principal{guest: true, login: se}, true
		default:
			se.last = now
			s.setExpiryCookie(w, r, se)
			return principal{user: s.users[se.user], login: se}, true
		}
	}
	if name, pass, ok := r.BasicAuth(); ok {
		u := s.checkPassword(name, pass, now)
		if u == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="XNAT Protected Area"`)
			writeStatusPage(w, http.StatusUnauthorized, "Unauthorized: bad credentials")
			return principal{}, false
		}
		active := 0
		for _, se := range s.logins {
			if se.user == u.name && !se.invalid && now.Sub(se.last) <= s.opts.LoginTimeout {
				active++
			}
		}
		if active >= s.opts.MaxLoginsPerUser {
			w.Header().Set("WWW-Authenticate", `Basic realm="XNAT Protected Area"`)
			writeStatusPage(w, http.StatusUnauthorized, "Maximum sessions exceeded") // XNAT's wording
			return principal{}, false
		}
		se := &login{id: newID(16), user: u.name, last: now, csrf: newID(8)}
		s.logins[se.id] = se
		s.created++
		s.setLoginCookie(w, r, se)
		return principal{user: u, login: se}, true
	}
	if s.opts.AllowGuest {
		se := &login{id: newID(16), last: now, csrf: newID(8), guest: true}
		s.logins[se.id] = se
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: se.id, Path: "/", HttpOnly: true, Secure: r.TLS != nil})
		return principal{guest: true, login: se}, true
	}
	if isBrowser(r) || (stale && s.opts.HTMLOnExpired) {
		writeLoginPage(w)
		return principal{}, false
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="XNAT Protected Area"`)
	writeStatusPage(w, http.StatusUnauthorized, "Unauthorized")
	return principal{}, false
}

// checkPassword accepts a user's password or an unexpired alias token
// (alias as user name, secret as password) of an account that is not
// locked.
func (s *Server) checkPassword(name, pass string, now time.Time) *user {
	var u *user
	if x := s.users[name]; x != nil && x.password == pass {
		u = x
	} else if t := s.tokens[name]; t != nil && t.secret == pass && now.Before(t.expires) {
		u = s.users[t.user]
	}
	if u == nil || u.locked {
		return nil
	}
	return u
}

func (s *Server) setLoginCookie(w http.ResponseWriter, r *http.Request, se *login) {
	http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: se.id, Path: "/", HttpOnly: true, Secure: r.TLS != nil})
	s.setExpiryCookie(w, r, se)
}

func (s *Server) setExpiryCookie(w http.ResponseWriter, r *http.Request, se *login) {
	// Quoted "<epoch ms>,<timeout ms>"; net/http's SetCookie would drop the
	// quotes and the comma, so the header is written by hand.
	v := fmt.Sprintf(`SESSION_EXPIRATION_TIME="%d,%d"; Path=/`, se.last.UnixMilli(), s.opts.LoginTimeout.Milliseconds())
	w.Header().Add("Set-Cookie", v)
}

func (s *Server) jsession(w http.ResponseWriter, r *http.Request, p principal, segs []string) {
	if len(segs) != 1 {
		writeStatusPage(w, http.StatusNotFound, "The server has not found anything matching the request URI")
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet:
		if p.login == nil {
			writeStatusPage(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, p.login.id)
	case http.MethodDelete:
		if p.login != nil {
			s.mu.Lock()
			p.login.invalid = true
			s.logouts++
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeStatusPage(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

func (s *Server) formLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeStatusPage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	name, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	if name == "" {
		name, pass = r.Form.Get("username"), r.Form.Get("password")
	}
	s.mu.Lock()
	now := s.opts.Now()
	u := s.checkPassword(name, pass, now)
	if u == nil {
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="XNAT Protected Area"`)
		writeStatusPage(w, http.StatusUnauthorized, "Unauthorized: bad credentials")
		return
	}
	se := &login{id: newID(16), user: u.name, last: now, csrf: newID(8)}
	s.logins[se.id] = se
	s.created++
	s.setLoginCookie(w, r, se)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, se.id)
}

// issueToken handles GET /data/services/tokens/issue (AliasTokenRestApi):
// a new alias and secret for the caller, also when the caller itself
// logged in with an alias token.
func (s *Server) issueToken(w http.ResponseWriter, _ *http.Request, p principal) {
	if p.user == nil {
		writeStatusPage(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	s.mu.Lock()
	now := s.opts.Now()
	t := s.issueTokenLocked(p.user.name)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"alias": t.alias, "secret": t.secret, "xdatUserId": p.user.name,
		"estimatedExpirationTime": t.expires.UnixMilli(), "timestamp": now.UnixMilli(),
		"enabled": true, "singleUse": false,
	})
}

// roleOf returns the principal's role in a project ("" = none). Admins are
// owners everywhere.
func (p principal) roleOf(pr *project) Role {
	if p.user == nil {
		return ""
	}
	if p.user.admin {
		return Owner
	}
	return pr.roles[p.user.name]
}

func (p principal) canSee(pr *project) bool { return p.roleOf(pr) != "" }

func (p principal) canEdit(pr *project) bool {
	r := p.roleOf(pr)
	return r == Owner || r == Member
}
