package restapi

import "testing"

func TestSurrogatesPaired(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"data":"plain"}`:              true,
		`{"data":"\u00e9 \"q\" \\ \n"}`: true,
		`{"data":"\ud83d\ude00"}`:       true,
		`{"data":"\uD83D\uDE00"}`:       true,
		`{"data":"\\ud800"}`:            true, // an escaped backslash, then text
		`{"data":"\ud800"}`:             false,
		`{"data":"\ud800x"}`:            false,
		`{"data":"\ud800\u0041"}`:       false,
		`{"data":"\udc00"}`:             false,
		`{"data":"\ud83d\ude00\udc00"}`: false,
		`{"data":"\ud83d\ud83d\ude00"}`: false,
		`{"data":"\u12"}`:               true, // invalid JSON: the decoder's to refuse
		`\`:                             true,
		`{"name":"\ud800","data":"x"}`:  false,
		`{"batch":[{"data":"\udfff"}]}`: false,
	} {
		if got := surrogatesPaired([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}
