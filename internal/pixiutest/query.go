package pixiutest

import "net/url"

func parseQuery(q string) (url.Values, error) {
	if q == "" {
		return url.Values{}, nil
	}
	return url.ParseQuery(q)
}
