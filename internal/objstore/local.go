package objstore

// Local is implemented by stores whose objects are plain files on this
// machine (the fs backend). LocalPath returns the file that holds the
// object under key and true, or false when there is none. Callers read the
// file and never write, rename or delete it; it holds the object until the
// key is replaced or deleted. Stat's digests describe the file's current
// bytes, so a caller that has checked them may read the file in place
// instead of copying the object out with Get.
type Local interface {
	LocalPath(key string) (string, bool)
}

// LocalPath returns the file of key when s, or the store it wraps (the
// retry and logging wrappers unwrap), keeps its objects as local files.
func LocalPath(s Store, key string) (string, bool) {
	for s != nil {
		if l, ok := s.(Local); ok {
			return l.LocalPath(key)
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	return "", false
}

// Unwrap returns the wrapped store.
func (l *logStore) Unwrap() Store { return l.s }

// Unwrap returns the wrapped store.
func (r *retryStore) Unwrap() Store { return r.s }
