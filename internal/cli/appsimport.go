package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pixiu-io/pixiu/internal/apps"
	"github.com/pixiu-io/pixiu/internal/store"
)

// maxImportBytes and maxImportApps bound an import file.
const (
	maxImportBytes = 16 << 20
	maxImportApps  = 10_000
)

// importFormats are the --format values.
var importFormats = []string{"auto", "soketi", "csv", "json"}

// imported is one app read from an import file, with what of its source
// Pixiu does not keep.
type imported struct {
	app     *apps.App
	where   string   // "apps[2]", "line 3"
	ignored []string // source settings not kept, with why
}

// readImport parses an import file: a soketi JSON config (its
// appManager.array.apps, dotted or nested, or a bare array of soketi apps),
// a JSON array of {id, key, secret, name}, or CSV rows id,key,secret[,name]
// (an optional header row).
func readImport(b []byte, format, name string) ([]imported, error) {
	if format == "auto" {
		format = "json"
		t := bytes.TrimSpace(b)
		if strings.EqualFold(filepath.Ext(name), ".csv") || (len(t) > 0 && t[0] != '{' && t[0] != '[') {
			format = "csv"
		}
	}
	if format == "csv" {
		return readCSV(b)
	}
	var raw []map[string]json.RawMessage
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err == nil {
		list, ok := soketiApps(doc)
		if !ok {
			return nil, errors.New(`no apps: a soketi config holds them in "appManager.array.apps"`)
		}
		if err := json.Unmarshal(list, &raw); err != nil {
			return nil, fmt.Errorf("appManager.array.apps: %w", err)
		}
	} else if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object or array of apps: %w", err)
	}
	out := make([]imported, 0, len(raw))
	for i, m := range raw {
		im, err := fromSoketi(m)
		if err != nil {
			return nil, fmt.Errorf("apps[%d]: %w", i, err)
		}
		im.where = "apps[" + strconv.Itoa(i) + "]"
		out = append(out, im)
	}
	return out, nil
}

// soketiApps finds appManager.array.apps in a soketi config, in the dotted
// form soketi's docs use or nested.
func soketiApps(doc map[string]json.RawMessage) (json.RawMessage, bool) {
	if v, ok := doc["appManager.array.apps"]; ok {
		return v, true
	}
	path := []string{"appManager", "array", "apps"}
	cur := doc
	for i, k := range path {
		v, ok := cur[k]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if json.Unmarshal(v, &cur) != nil {
			return nil, false
		}
	}
	return nil, false
}

// fromSoketi maps one soketi app object (or a simple {id, key, secret,
// name}) onto a Pixiu app; settings Pixiu has no per-app equivalent for are
// listed in ignored.
func fromSoketi(m map[string]json.RawMessage) (imported, error) {
	a := &apps.App{Settings: apps.Defaults()}
	im := imported{app: a}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		var err error
		switch k {
		case "id":
			a.ID, err = jsonString(v)
		case "key":
			a.Key, err = jsonString(v)
		case "secret":
			a.Secret, err = jsonString(v)
		case "name":
			a.Name, err = jsonString(v)
		case "enabled":
			a.Enabled, err = jsonBool(v)
		case "enableClientMessages":
			a.ClientEvents, err = jsonBool(v)
		case "enableUserAuthentication":
			a.UserAuth, err = jsonBool(v)
		case "maxConnections":
			var n int64
			if n, err = jsonInt(v); err == nil {
				a.MaxConnections = int(max(n, 0)) // soketi: -1 = unlimited; Pixiu: 0
			}
		case "maxClientEventsPerSecond":
			var n int64
			if n, err = jsonInt(v); err == nil {
				if n < 0 { // unlimited in soketi; Pixiu always has a per-connection limit
					n = apps.MaxClientEventsPerSecond
					im.ignored = append(im.ignored, k+"=-1 (unlimited): set to Pixiu's most, "+strconv.Itoa(apps.MaxClientEventsPerSecond))
				}
				a.MaxClientEventsPerSecond = int(n)
			}
		case "maxPresenceMembersPerChannel":
			var n int64
			if n, err = jsonInt(v); err == nil && n > 0 {
				a.MaxPresenceMembers = int(n)
			}
		case "webhooks", "enabledWebhooks":
			err = soketiWebhooks(v, &im)
		case "maxPresenceMemberSizeInKb", "maxChannelNameLength", "maxEventChannelsAtOnce",
			"maxEventNameLength", "maxEventPayloadInKb", "maxEventBatchSize":
			im.ignored = append(im.ignored, k+": server-wide in Pixiu (limits.* in the config file)")
		case "maxBackendEventsPerSecond", "maxReadRequestsPerSecond":
			im.ignored = append(im.ignored, k+": Pixiu has no REST rate limit (see daily_message_quota)")
		default:
			im.ignored = append(im.ignored, k+": unknown to Pixiu")
		}
		if err != nil {
			return im, fmt.Errorf("%s: %w", k, err)
		}
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	return im, nil
}

// soketiWebhooks maps soketi's webhooks ({url, event_types, headers,
// filter: {channel_name_starts_with, channel_name_ends_with}}).
func soketiWebhooks(v json.RawMessage, im *imported) error {
	var list []struct {
		URL        string            `json:"url"`
		EventTypes []string          `json:"event_types"`
		Headers    map[string]string `json:"headers"`
		Filter     struct {
			StartsWith string `json:"channel_name_starts_with"`
			EndsWith   string `json:"channel_name_ends_with"`
		} `json:"filter"`
		Lambda         json.RawMessage `json:"lambda"`
		LambdaFunction string          `json:"lambda_function"`
	}
	if err := json.Unmarshal(v, &list); err != nil {
		return err
	}
	for i, w := range list {
		f := "webhooks[" + strconv.Itoa(i) + "]"
		if w.URL == "" {
			im.ignored = append(im.ignored, f+": no url (AWS Lambda webhooks are not supported)")
			continue
		}
		if w.Filter.EndsWith != "" {
			im.ignored = append(im.ignored, f+".filter.channel_name_ends_with: Pixiu filters by prefix only")
		}
		im.app.Webhooks = append(im.app.Webhooks, apps.Webhook{URL: w.URL, Events: w.EventTypes,
			ChannelPrefix: w.Filter.StartsWith, Headers: w.Headers})
	}
	return nil
}

func jsonString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		var n json.Number // soketi accepts numeric ids
		if json.Unmarshal(v, &n) != nil {
			return "", errors.New("want a string")
		}
		return n.String(), nil
	}
	return s, nil
}

func jsonBool(v json.RawMessage) (bool, error) {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, nil
	}
	s, err := jsonString(v)
	if err == nil {
		if b, err = strconv.ParseBool(s); err == nil {
			return b, nil
		}
	}
	return false, errors.New("want true or false")
}

// jsonInt reads a number or a numeric string (soketi's docs show both).
func jsonInt(v json.RawMessage) (int64, error) {
	s, err := jsonString(v)
	if err != nil {
		return 0, errors.New("want a number")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, errors.New("want a whole number")
	}
	return n, nil
}

// readCSV reads id,key,secret[,name] rows; a first row naming the columns is
// skipped.
func readCSV(b []byte) ([]imported, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.Comment = '#'
	var out []imported
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if first && len(rec) >= 3 && strings.EqualFold(rec[0], "id") && strings.EqualFold(rec[1], "key") {
			continue
		}
		if len(rec) < 3 || len(rec) > 4 {
			return nil, fmt.Errorf("line %d: want id,key,secret[,name], got %d fields", line, len(rec))
		}
		a := &apps.App{ID: rec[0], Key: rec[1], Secret: rec[2], Settings: apps.Defaults()}
		a.Name = a.ID
		if len(rec) == 4 && rec[3] != "" {
			a.Name = rec[3]
		}
		out = append(out, imported{app: a, where: "line " + strconv.Itoa(line)})
	}
}

// checkImport returns every reason the import cannot be made: missing or
// malformed credentials, duplicates within the file, clashes with the
// config file's apps or the stored ones, invalid settings.
func (c *appsCmd) checkImport(ctx context.Context, list []imported) ([]string, error) {
	stored, err := c.store.Apps(ctx)
	if err != nil {
		return nil, err
	}
	ids, keys := map[string]string{}, map[string]string{}
	for _, a := range c.cfg.Apps {
		ids[a.ID], keys[a.Key] = "the config file's app "+a.ID, "the config file's app "+a.ID
	}
	for _, a := range stored {
		ids[a.ID], keys[a.Key] = "stored app "+a.ID, "stored app "+a.ID
	}
	var problems []string
	bad := func(im imported, format string, args ...any) {
		problems = append(problems, im.where+" ("+im.app.ID+"): "+fmt.Sprintf(format, args...))
	}
	if len(list) == 0 {
		problems = append(problems, "the file holds no apps")
	}
	if len(list) > maxImportApps {
		problems = append(problems, fmt.Sprintf("%d apps: at most %d per import", len(list), maxImportApps))
	}
	for _, im := range list {
		a := im.app
		switch {
		case a.ID == "" || a.Key == "" || a.Secret == "":
			bad(im, "id, key and secret are required")
			continue
		case strings.ContainsAny(a.ID+a.Key, "/?#: \t\r\n"):
			bad(im, "id and key may not contain / ? # : or spaces")
		case len(a.ID) > 200 || len(a.Key) > 200 || len(a.Secret) > 200:
			bad(im, "id, key and secret are at most 200 bytes each")
		}
		if who, ok := ids[a.ID]; ok {
			bad(im, "id %q is already used by %s", a.ID, who)
		}
		if who, ok := keys[a.Key]; ok {
			bad(im, "key %q is already used by %s", a.Key, who)
		}
		ids[a.ID], keys[a.Key] = im.where+" of this file", im.where+" of this file"
		var fe apps.FieldErrors
		if err := a.Validate(); errors.As(err, &fe) {
			for _, k := range fe.Keys() {
				bad(im, "%s %s", k, fe[k])
			}
		}
	}
	return problems, nil
}

// importApps runs `pixiu apps import FILE`.
func (c *appsCmd) importApps(ctx context.Context, file, format string, dryRun bool, stderr io.Writer) int {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu apps import:", err)
		return 1
	}
	b, err := io.ReadAll(io.LimitReader(f, maxImportBytes+1))
	f.Close()
	if err != nil {
		fmt.Fprintln(stderr, "pixiu apps import:", err)
		return 1
	}
	if len(b) > maxImportBytes {
		fmt.Fprintf(stderr, "pixiu apps import: %s is larger than %d bytes\n", file, maxImportBytes)
		return 1
	}
	list, err := readImport(b, format, file)
	if err != nil {
		fmt.Fprintf(stderr, "pixiu apps import: %s: %v\n", file, err)
		return 1
	}
	problems, err := c.checkImport(ctx, list)
	if err != nil {
		fmt.Fprintln(stderr, "pixiu apps import:", err)
		return 1
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "pixiu apps import: %s: nothing imported:\n", file)
		for _, p := range problems {
			fmt.Fprintln(stderr, "  "+p)
		}
		return 1
	}
	if !dryRun {
		all := make([]*apps.App, len(list))
		for i, im := range list {
			all[i] = im.app
		}
		if err := c.store.ImportApps(ctx, all); err != nil {
			var te *store.TakenError
			if errors.As(err, &te) {
				fmt.Fprintf(stderr, "pixiu apps import: nothing imported: %v (taken meanwhile)\n", err)
				return 1
			}
			return reportAppsError(stderr, err)
		}
	}
	c.reportImport(list, dryRun)
	return 0
}

func (c *appsCmd) reportImport(list []imported, dryRun bool) {
	if c.json {
		type row struct {
			ID      string   `json:"id"`
			Key     string   `json:"key"`
			Name    string   `json:"name"`
			Ignored []string `json:"ignored"`
		}
		out := struct {
			DryRun bool  `json:"dry_run"`
			Apps   []row `json:"apps"`
		}{DryRun: dryRun, Apps: []row{}}
		for _, im := range list {
			out.Apps = append(out.Apps, row{im.app.ID, im.app.Key, im.app.Name, append([]string{}, im.ignored...)})
		}
		_ = json.NewEncoder(c.stdout).Encode(out)
		return
	}
	verb := "Imported"
	if dryRun {
		verb = "Dry run: would import"
	}
	fmt.Fprintf(c.stdout, "%s %d apps:\n", verb, len(list))
	for _, im := range list {
		a := im.app
		fmt.Fprintf(c.stdout, "  %s  key %s  %q  client events %v  max connections %d  webhooks %d\n",
			a.ID, a.Key, a.Name, a.ClientEvents, a.MaxConnections, len(a.Webhooks))
		for _, ig := range im.ignored {
			fmt.Fprintln(c.stdout, "    not kept: "+ig)
		}
	}
	if !dryRun {
		fmt.Fprintln(c.stdout, "A running server picks them up within 2 seconds.")
	}
}
