package webhook

import (
	"context"
	"fmt"
	"time"
)

// FreezeSize makes the database refuse to grow (SQLITE_FULL, "database or
// disk is full"), as a full disk would, or lifts that limit.
func FreezeSize(o *SQLite, frozen bool) error {
	ctx := context.Background()
	if !frozen {
		_, err := o.db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`)
		return err
	}
	if _, err := o.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS test_filler (b BLOB)`); err != nil {
		return err
	}
	var pages int64
	if err := o.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return err
	}
	if _, err := o.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		return err
	}
	// Fill the free space of the pages there are: from now on every write
	// that adds a row fails.
	for size := 4096; size > 0; {
		if _, err := o.db.ExecContext(ctx, `INSERT INTO test_filler VALUES (zeroblob(?))`, size); err != nil {
			size /= 2
		}
	}
	return nil
}

// AgeDeadLetter moves the time batch id died back by d.
func AgeDeadLetter(o *SQLite, id string, d time.Duration) error {
	_, err := o.db.ExecContext(context.Background(),
		`UPDATE webhook_batches SET updated_ms = updated_ms - ? WHERE id = ? AND dead = 1`, d.Milliseconds(), id)
	return err
}
