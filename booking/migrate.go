package booking

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockKey serializes Migrate across processes (pg_advisory_xact_lock).
const migrateLockKey int64 = 0x6a6f62_68616c6c // "jobhall"

type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int64]string{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		if !ok {
			return nil, fmt.Errorf("booking: migration %q is not named NNNN_name.sql", base)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("booking: migration %q has a bad version", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("booking: migrations %q and %q share version %d", prev, base, v)
		}
		seen[v] = base
		body, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies the embedded migrations that are not yet recorded in
// schema_migrations, in version order, each in its own transaction. It is
// idempotent and safe to call from several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	migs, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range migs {
		if err := applyMigration(ctx, pool, m); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, pool *pgxpool.Pool, m migration) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("booking: migrate %s: %w", m.name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	// The lock is taken before anything else so that concurrent migrators
	// see each other's committed work rather than racing on DDL.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("booking: migrate lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("booking: create schema_migrations: %w", err)
	}
	var done bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil {
		return fmt.Errorf("booking: migrate %s: %w", m.name, err)
	}
	if done {
		return tx.Commit(ctx)
	}
	// No arguments: pgx uses the simple protocol, which allows many statements.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("booking: apply %s: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
		return fmt.Errorf("booking: record %s: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("booking: commit %s: %w", m.name, err)
	}
	return nil
}
