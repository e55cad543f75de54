package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/pixiu-io/pixiu/internal/pixiutest"
)

// BenchmarkRESTPublishOnLoop publishes over one keep-alive connection
// answered on the event loops (memory engine), one request at a time.
func BenchmarkRESTPublishOnLoop(b *testing.B) {
	s := pixiutest.Start(b, nil)
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	h, body := signedPublish("bench", `{"price":1}`)
	req := []byte(h + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
