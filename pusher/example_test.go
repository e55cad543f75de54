package pusher_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/pixiu-io/pixiu/pusher"
)

// Example publishes an event to a local Pixiu server and serves the channel
// authorization endpoint pusher-js calls for private and presence channels.
func Example() {
	client, err := pusher.New(pusher.Options{
		AppID:  "app-id",
		Key:    "app-key",
		Secret: "app-secret",
		Host:   "127.0.0.1:6001", // Pixiu; leave empty and set Cluster for pusher.com
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = client.TriggerContext(ctx, []string{"my-channel"}, "my-event", map[string]string{"message": "hello"}, nil)
	var httpErr *pusher.HTTPError
	if errors.As(err, &httpErr) {
		log.Printf("server said %d: %s", httpErr.Status, httpErr.Body)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /pusher/auth", func(w http.ResponseWriter, r *http.Request) {
		params, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		// Decide here whether the current user may join the channel.
		body, err := client.AuthorizeChannel(params, &pusher.MemberData{UserID: "42"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

// The answer to pusher-js for a private channel is the vector of the Pusher
// docs.
func ExampleClient_AuthorizeChannel() {
	client, _ := pusher.New(pusher.Options{AppID: "3", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"})
	body, err := client.AuthorizeChannel([]byte("socket_id=1234.1234&channel_name=private-foobar"), nil)
	fmt.Println(string(body), err)
	// Output: {"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"} <nil>
}

// TriggerAsync never blocks; Close sends what is queued before returning.
func ExampleClient_TriggerAsync() {
	client, _ := pusher.New(pusher.Options{
		AppID: "app-id", Key: "app-key", Secret: "app-secret", Host: "127.0.0.1:6001",
		OnAsyncError: func(err error) { log.Printf("publish: %v", err) },
	})
	defer client.Close(context.Background())

	if err := client.TriggerAsync([]string{"prices"}, "tick", `{"p":101.5}`, nil); errors.Is(err, pusher.ErrQueueFull) {
		log.Print("publishing too fast, event dropped")
	}
}
