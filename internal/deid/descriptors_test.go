package deid

import "testing"

// TestCleanDescriptors: Clean Descriptors removes the data set's own
// identifiers in every spelling and the shapes of other people's names,
// dates and phone numbers, and keeps ordinary protocol names; the strict
// mode keeps only descriptor vocabulary, numbers and short codes.
func TestCleanDescriptors(t *testing.T) {
	for _, mode := range []string{"clean", "strict"} {
		p := profileWith(t, `{"Name":"p","Options":["CleanDescriptors"],"Descriptors":"`+mode+`"}`)
		s := &state{p: p, deny: newDenyList()}
		s.nameTokens("Müller^Hans", nil)
		s.nameTokens("山田^太郎=やまだ^たろう", nil)
		s.deny.add("MRN4471902", tkID, "patient-id", nil)
		s.deny.compact()
		// strict "=" means the same as clean.
		cases := []struct{ in, clean, strict string }{
			// Ordinary protocol names survive both modes.
			{"T1_MPRAGE_SAG", "T1_MPRAGE_SAG", "="},
			{"AX FLAIR", "AX FLAIR", "="},
			{"DWI b1000", "DWI b1000", "="},
			{"PET-CT SERIES", "PET-CT SERIES", "="},
			{"Brain Routine", "Brain Routine", "="},
			{"t2_tse_tra 3mm", "t2_tse_tra 3mm", "="},
			// The patient's own name in every spelling.
			{"HEAD MÜLLER", "HEAD", "="},
			{"HEAD MUELLER", "HEAD", "="},
			{"head muller", "head", "="},
			{"HEAD Mül\u200bler", "HEAD", "="},
			{"ＭＵＬＬＥＲ FLAIR", "FLAIR", "="},
			{"山田太郎さん MR", "MR", "="},
			{"MRN4471902 brain", "MRN brain", "="},
			// Other people's names by their shape.
			{"seen by Dr. Okonkwo", "seen by", "="},
			{"AX FLAIR Janet Doeberg", "AX FLAIR", "="},
			{"per Prof Adaeze Okafor request", "per request", "="},
			// Dates, phones, e-mail.
			{"born 2 January 1960 brain", "born brain", "="},
			{"brain January 2, 1960", "brain", "="},
			{"call 555.014.2233 brain", "call brain", "="},
			{"+44 20 7946 0958 brain", "brain", "="},
			{"brain 01/02/1960", "brain", "="},
			{"mail hans@example.org brain", "mail brain", "="},
			// Strict keeps vocabulary, numbers and short abbreviations only:
			// unknown names in any case or spelling fall out.
			{"okonkwo brain", "okonkwo brain", "brain"},
			{"t1 sag moukriakrok", "t1 sag moukriakrok", "t1 sag"},
			{"T2 AX BOUSGRIVLIR", "T2 AX BOUSGRIVLIR", "T2 AX"},
			{"T1_PEIBRIATER_SAG", "T1_PEIBRIATER_SAG", ""},
			{"T1TriafogrelSag", "T1TriafogrelSag", ""},
			{"krutr31kh1m", "krutr31kh1m", ""},
			{"Brain Lee", "Brain Lee", "Brain"},
			{"ep2d_diff_mddw_20_p2 TRACEW", "ep2d_diff_mddw_20_p2 TRACEW", "="},
			{"Signa HDxt 3T", "Signa HDxt 3T", "="},
			// Versions are not dates; postcodes go.
			{"3.2.2", "3.2.2", "="},
			{"5.00.02", "5.00.02", "="},
			{"T1 QX4 5ZT", "T1", "="},
			{"brain SW1A 1AA", "brain", "="},
		}
		for _, c := range cases {
			want := c.clean
			if mode == "strict" && c.strict != "=" {
				want = c.strict
			}
			if got, _ := s.cleanText(c.in, false); got != want {
				t.Errorf("%s: cleanText(%q) = %q, want %q", mode, c.in, got, want)
			}
		}
	}
}
