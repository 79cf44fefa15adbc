package dicom

// The data dictionary (dict_gen.go) and UID registry (uid_gen.go) are
// generated from pydicom's _dicom_dict.py and _uid_dict.py (Debian package
// python3-pydicom); see internal/gendict for flags to read them elsewhere.
//go:generate go run ./internal/gendict
