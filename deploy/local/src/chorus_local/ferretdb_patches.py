"""Small fixes Chorus applies to FerretDB v1's SQLite backend when it builds it.

Same results, far fewer table scans, no sleeping writers, cheaper reads. Each is a file,
its stock text and the fixed text; the build fails loudly if a stock text is not found.
`all` (the default) applies 1 to 9; `CHORUS_FERRETDB_PATCHES=none` (or
`CHORUS_FERRETDB_STOCK=1`) builds it unpatched, `=index` with 1 and 2 only. Measured on a
5,000-document collection: 75 updates by `_id` per second stock, ~900 with 1 and 2.

1. Lookups by `_id` use the expression `_ferretdb_sjson->'$._id'`, while the unique `_id`
   index is on `_ferretdb_sjson->"_id"`; SQLite uses an index only for the same
   expression, so every update, delete and `_id` lookup scanned the whole table.
2. The `_id` lookup was pushed down only for a filter holding nothing but `_id`, so a
   conditional write (`{_id, sequence: n}`) scanned the table; and `{_id: {$in: [...]}}`
   never used the index. The handler re-applies the whole filter to what the query returns,
   so narrowing the query by `_id` is exact.
3. Writers to one database queue on a Go mutex instead of in SQLite's busy handler, which
   sleeps 1, 2, 5, 10… ms between tries: with many concurrent writers (a batch of leavers)
   the write lock sat idle while they all slept.
4. What a write command writes is encoded before it takes the lock, and the documents one
   update command modifies go in one transaction with one prepared statement (stock: a
   transaction and a preparation per document). An update command is thereby
   all-or-nothing; MongoDB promises neither way.
5. An update or find-and-modify closes its read before it writes. Its rows held a pooled
   connection (an `update_one` stops reading after one document and kept them open to the
   end), so with 3, a hundred writers waiting for the lock held every connection the
   lock's holder needed: a deadlock (deploy/local/tests/test_ferretdb_writes.py).
6. A document is read without a `json.Decoder` per document, per schema and per field
   (each with its own buffer): a splitter finds the members of FerretDB's own compact
   JSON, scalars are parsed directly, and each distinct schema is decoded once and kept
   (at most 4,096). Whitespace, an escape or a number that does not parse takes the stock
   path. A grant-like document of 16 fields decodes in 5.5 µs instead of 45.9 µs (Go
   benchmark on the patched package); reading was a third of FerretDB's CPU under a bulk
   of leavers. deploy/local/tests/test_ferretdb_reads.py round-trips generated documents.
7. Iterators and transactions are not tracked for leaks: stock FerretDB recorded a stack
   trace in a pprof profile and set a finalizer for each (to panic on a leak), a twelfth
   of its CPU under the same bulk.
8. `{field: {$in: [...]}}` on a string field looks the value up in a set of the array's
   strings, built once per array (stock: compared with every element, for every document:
   a read of 500 ids by `_id: {$in}` made 250,000 comparisons, a fifth of FerretDB's CPU
   under a bulk of leavers). An array holding a regex, a document or an array, or of fewer
   than 16 elements, takes the stock path.
9. A non-unique index is recorded, not built. v1 hands SQLite no filter but `_id` (and 1
   and 2 only narrow by `_id`), so such an index answers no query, while every insert and
   update evaluates its JSON expression and writes its entry (evaluating index expressions
   was ~9% of FerretDB's CPU under a bulk of leavers, Go pprof 2026-12-07 18:05).
   listIndexes still shows it, dropping it works, a unique index is built as before.
`make bench-ferretdb` (64 concurrent writers, each round an update of 5 documents by `_id`
then an insert of 13; 2-core machine, 2026-12-07 07:03): 638 rounds/s with 1 to 5, 325
with 1 and 2 only (1.96x), p99 144 against 1,478 ms; one writer alone 1.57x. With 6 and 7
a bulk of 10,000 leavers (`make bench-leaver`) took 65.6 s instead of 91.3-92.7 s
(2026-12-07 08:52-09:04).
"""

from __future__ import annotations

from pathlib import Path

_QUERY_STOCK = """\
	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause
"""

_QUERY_FIXED = """\
	if params.Filter.Len() >= 1 {
		v, _ := params.Filter.Get("_id")
		switch v := v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = chorusIDInClause(v)
		}
	}

	q += whereClause
"""

_ID_IN_HELPER = """

// chorusIDInClause narrows {_id: {$in: [...]}} to the _id index (a Chorus patch). The
// handler re-applies the whole filter, so an empty clause only means "scan".
func chorusIDInClause(d *types.Document) (string, []any) {
	if d.Len() != 1 {
		return "", nil
	}
	in, _ := d.Get("$in")
	arr, ok := in.(*types.Array)
	if !ok || arr.Len() == 0 || arr.Len() > 500 {
		return "", nil
	}
	placeholders := make([]string, arr.Len())
	args := make([]any, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		id := must.NotFail(arr.Get(i))
		switch id.(type) {
		case string, types.ObjectID:
		default:
			return "", nil
		}
		placeholders[i] = "?"
		args[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
	}
	where := fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", "))
	return where, args
}
"""

# 3. One writer at a time per database, queued in Go.
_DB_FIELDS_STOCK = """\
	token     *resource.Token
	BatchSize int
}
"""
_DB_FIELDS_FIXED = """\
	token     *resource.Token
	BatchSize int

	// Chorus patch: writers queue here, not in SQLite's sleeping busy handler.
	writeMu sync.Mutex
}
"""
_DB_EXEC_STOCK = """\
	res, err := db.sqlDB.ExecContext(ctx, query, args...)
"""
_DB_EXEC_FIXED = """\
	res, err := func() (sql.Result, error) {
		db.writeMu.Lock()
		defer db.writeMu.Unlock() // released even if the driver panics

		return db.sqlDB.ExecContext(ctx, query, args...)
	}()
"""
_DB_TX_STOCK = """\
func (db *DB) InTransaction(ctx context.Context, f func(*Tx) error) (err error) {
	var sqlTx *sql.Tx
"""
_DB_TX_FIXED = """\
func (db *DB) InTransaction(ctx context.Context, f func(*Tx) error) (err error) {
	var sqlTx *sql.Tx

	db.writeMu.Lock()
	defer db.writeMu.Unlock()
"""

# 4. What one command writes is encoded before the write lock; an update command's
#    documents go in one transaction with one prepared statement.
_INSERT_ALL_STOCK = """\
	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		batchSize := c.r.BatchSize
		if batchSize < 1 {
			panic("batch-size should be greater or equal to 1")
		}

		var batch []*types.Document
		docs := params.Docs

		for len(docs) > 0 {
			i := min(batchSize, len(docs))
			batch, docs = docs[:i], docs[i:]

			q, args, err := prepareInsertStatement(meta.TableName, meta.Capped(), batch)
			if err != nil {
				return lazyerrors.Error(err)
			}

			if _, err = tx.ExecContext(ctx, q, args...); err != nil {
				var se *sqlite3.Error
				if errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {
					return backends.NewError(backends.ErrorCodeInsertDuplicateID, err)
				}

				return lazyerrors.Error(err)
			}
		}

		return nil
	})
"""
_INSERT_ALL_FIXED = """\
	// Chorus patch: the documents are encoded before the write lock, not while holding it.
	batchSize := c.r.BatchSize
	if batchSize < 1 {
		panic("batch-size should be greater or equal to 1")
	}

	type insertStatement struct {
		q    string
		args []any
	}

	var statements []insertStatement

	for docs := params.Docs; len(docs) > 0; {
		var batch []*types.Document

		i := min(batchSize, len(docs))
		batch, docs = docs[:i], docs[i:]

		q, args, err := prepareInsertStatement(meta.TableName, meta.Capped(), batch)
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		statements = append(statements, insertStatement{q: q, args: args})
	}

	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		for _, s := range statements {
			if _, err := tx.ExecContext(ctx, s.q, s.args...); err != nil {
				var se *sqlite3.Error
				if errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {
					return backends.NewError(backends.ErrorCodeInsertDuplicateID, err)
				}

				return lazyerrors.Error(err)
			}
		}

		return nil
	})
"""
_UPDATE_ALL_STOCK = """\
	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		for _, doc := range params.Docs {
			b, err := sjson.Marshal(doc)
			if err != nil {
				return lazyerrors.Error(err)
			}

			id, _ := doc.Get("_id")
			must.NotBeZero(id)

			arg := string(must.NotFail(sjson.MarshalSingleValue(id)))

			r, err := tx.ExecContext(ctx, q, string(b), arg)
			if err != nil {
				return lazyerrors.Error(err)
			}

			ra, err := r.RowsAffected()
			if err != nil {
				return lazyerrors.Error(err)
			}

			res.Updated += int32(ra)
		}

		return nil
	})
	if err != nil {
"""
_UPDATE_ALL_FIXED = """\
	// Chorus patch: the documents are encoded before the write lock, and the statement is
	// prepared once per transaction (stock: once per document).
	encoded := make([][2]string, len(params.Docs))

	for i, doc := range params.Docs {
		b, err := sjson.Marshal(doc)
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		id, _ := doc.Get("_id")
		must.NotBeZero(id)

		encoded[i] = [2]string{string(b), string(must.NotFail(sjson.MarshalSingleValue(id)))}
	}

	err := db.InTransaction(ctx, func(tx *fsql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return lazyerrors.Error(err)
		}
		defer stmt.Close()

		for _, e := range encoded {
			r, err := stmt.ExecContext(ctx, e[0], e[1])
			if err != nil {
				return lazyerrors.Error(err)
			}

			ra, err := r.RowsAffected()
			if err != nil {
				return lazyerrors.Error(err)
			}

			res.Updated += int32(ra)
		}

		return nil
	})
	if err != nil {
"""
_TX_PREPARE = """
// PrepareContext prepares a statement for use within the transaction (a Chorus patch).
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.sqlTx.PrepareContext(ctx, query)
}
"""
_UPDATE_START_STOCK = """\
	isFindAndModify := (strings.ToLower(cmd) == "findandmodify")

	for {
"""
_UPDATE_START_FIXED = """\
	isFindAndModify := (strings.ToLower(cmd) == "findandmodify")

	// Chorus patch: what one command modifies is written at the end, in one transaction.
	var modifiedDocs []*types.Document
	writeModified := func() error {
		if len(modifiedDocs) == 0 {
			return nil
		}
		_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: modifiedDocs})
		return err
	}

	for {
"""
_UPDATE_DONE_STOCK = """\
			if !errors.Is(err, iterator.ErrIteratorDone) {
				return nil, lazyerrors.Error(err)
			}

			if result.Matched.Count == 0 && param.Upsert {
				upsert = true
				doc = must.NotFail(types.NewDocument())
			}

			if !upsert {
				return result, nil
			}
"""
# The read is closed before any write: an `update_one` (a limit of 1) left its rows, and
# their pooled connection, open until the command ended, so 100 of them waiting for the
# write lock held every connection the lock's holder needed (a deadlock found by a bulk of
# leavers).
_UPDATE_DONE_FIXED = """\
			if !errors.Is(err, iterator.ErrIteratorDone) {
				return nil, lazyerrors.Error(err)
			}

			iter.Close() // Chorus patch: the read's connection back to the pool first

			if result.Matched.Count == 0 && param.Upsert {
				upsert = true
				doc = must.NotFail(types.NewDocument())
			}

			if !upsert {
				if err = writeModified(); err != nil {
					return nil, lazyerrors.Error(err)
				}
				return result, nil
			}
"""
_REMOVE_STOCK = """\
		if doc != nil {
"""
_REMOVE_FIXED = """\
		iter.Close() // Chorus patch: the read's connection back to the pool before the write

		if doc != nil {
"""
_UPDATE_WRITE_STOCK = """\
		} else if modified {
			_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})
			if err != nil {
				return nil, lazyerrors.Error(err)
			}
"""
_UPDATE_WRITE_FIXED = """\
		} else if modified {
			modifiedDocs = append(modifiedDocs, doc)
"""

# 6. Documents are decoded without a json.Decoder per document, schema and field, and each
#    distinct schema once.
_UNMARSHAL_STOCK = """\
	var v map[string]json.RawMessage
	r := bytes.NewReader(data)
	dec := json.NewDecoder(r)

	err := dec.Decode(&v)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err = checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

	// decode schema from the $s field of the document
	jsch, ok := v["$s"]
	if !ok {
		return nil, lazyerrors.Errorf("schema is not set")
	}

	var sch schema
	r = bytes.NewReader(jsch)
	dec = json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(&sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

"""

_UNMARSHAL_FIXED = """\
	v, fast := chorusSplitObject(data)
	if !fast {
		r := bytes.NewReader(data)
		dec := json.NewDecoder(r)

		err := dec.Decode(&v)
		if err != nil {
			return nil, lazyerrors.Error(err)
		}

		if err = checkConsumed(dec, r); err != nil {
			return nil, lazyerrors.Error(err)
		}
	}

	// decode schema from the $s field of the document
	jsch, ok := v["$s"]
	if !ok {
		return nil, lazyerrors.Errorf("schema is not set")
	}

	sch, err := chorusSchema(jsch)
	if err != nil {
		return nil, lazyerrors.Error(err)
	}

"""

_SCALAR_STOCK = """\
	var res sjsontype
	var err error
"""

_SCALAR_FIXED = """\
	if v, ok := chorusFastScalar(data, sch.Type); ok {
		return v, nil
	}

	var res sjsontype
	var err error
"""

_DECODE_HELPERS = r"""
// What follows is a Chorus patch: reading a document made a json.Decoder, with its buffer,
// for the document, for its schema and for every field of it, and decoded the same schema
// again for every document of a collection. The documents are FerretDB's own compact JSON;
// anything unusual (whitespace, an escape, a number that does not parse) takes the stock path.

// chorusSchemas holds the schemas decoded before, by their JSON (read-only once decoded).
var (
	chorusSchemasM sync.RWMutex
	chorusSchemas  = map[string]*schema{}
)

const chorusSchemasMax = 4096

// chorusSchema decodes a document's schema, once per distinct schema.
func chorusSchema(jsch []byte) (*schema, error) {
	chorusSchemasM.RLock()
	sch := chorusSchemas[string(jsch)]
	chorusSchemasM.RUnlock()

	if sch != nil {
		return sch, nil
	}

	sch = new(schema)
	r := bytes.NewReader(jsch)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}

	chorusSchemasM.Lock()
	if len(chorusSchemas) >= chorusSchemasMax {
		chorusSchemas = map[string]*schema{}
	}
	chorusSchemas[string(jsch)] = sch
	chorusSchemasM.Unlock()

	return sch, nil
}

// chorusSplitObject splits a compact JSON object into its members' raw values.
func chorusSplitObject(data []byte) (map[string]json.RawMessage, bool) {
	n := len(data)
	if n < 2 || data[0] != '{' || data[n-1] != '}' {
		return nil, false
	}

	members := make(map[string]json.RawMessage, 16)
	if n == 2 {
		return members, true
	}

	for i := 1; ; {
		if data[i] != '"' {
			return nil, false
		}

		j := i + 1
		for j < n && data[j] != '"' {
			if data[j] == '\\' {
				return nil, false
			}
			j++
		}

		if j+2 >= n || data[j+1] != ':' {
			return nil, false
		}

		end, ok := chorusValueEnd(data, j+2)
		if !ok || end == j+2 {
			return nil, false
		}

		members[string(data[i+1:j])] = data[j+2 : end]

		switch data[end] {
		case ',':
			i = end + 1
			if i >= n {
				return nil, false
			}
		case '}':
			return members, end == n-1
		default:
			return nil, false
		}
	}
}

// chorusValueEnd is where the JSON value starting at i ends: the index of the comma or
// closing bracket that follows it.
func chorusValueEnd(data []byte, i int) (int, bool) {
	depth := 0

	for i < len(data) {
		switch data[i] {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
		case ',':
			if depth == 0 {
				return i, true
			}
		case ' ', '\t', '\n', '\r':
			return 0, false
		}
		i++
	}

	return 0, false
}

// chorusFastScalar decodes a scalar without a json.Decoder.
func chorusFastScalar(data []byte, t elemType) (any, bool) {
	switch t {
	case elemTypeString:
		if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
			return nil, false
		}
		body := data[1 : len(data)-1]
		for _, c := range body {
			if c == '\\' || c == '"' || c < 0x20 {
				return nil, false
			}
		}
		if !utf8.Valid(body) {
			return nil, false
		}
		return string(body), true
	case elemTypeInt:
		i, err := strconv.ParseInt(string(data), 10, 32)
		return int32(i), err == nil
	case elemTypeLong:
		i, err := strconv.ParseInt(string(data), 10, 64)
		return i, err == nil
	case elemTypeDate:
		i, err := strconv.ParseInt(string(data), 10, 64)
		return time.UnixMilli(i), err == nil
	case elemTypeBool:
		switch string(data) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return nil, false
}
"""

_DOCUMENT_STOCK = """\
	r := bytes.NewReader(data)
	dec := json.NewDecoder(r)

	var rawMessages map[string]json.RawMessage
	if err := dec.Decode(&rawMessages); err != nil {
		return lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return lazyerrors.Error(err)
	}

"""

_DOCUMENT_FIXED = """\
	rawMessages, fast := chorusSplitObject(data)
	if !fast {
		r := bytes.NewReader(data)
		dec := json.NewDecoder(r)

		if err := dec.Decode(&rawMessages); err != nil {
			return lazyerrors.Error(err)
		}

		if err := checkConsumed(dec, r); err != nil {
			return lazyerrors.Error(err)
		}
	}

"""

# 7. No leak tracking of iterators and transactions.
_TRACK_STOCK = """\
func Track(obj any, token *Token) {
	checkArgs(obj, token)
"""
_TRACK_FIXED = """\
func Track(obj any, token *Token) {
	if !chorusTrack {
		return // a Chorus patch: see chorusTrack
	}

	checkArgs(obj, token)
"""
_UNTRACK_STOCK = """\
func Untrack(obj any, token *Token) {
	checkArgs(obj, token)
"""
_UNTRACK_FIXED = """\
func Untrack(obj any, token *Token) {
	if !chorusTrack {
		return
	}

	checkArgs(obj, token)
"""
_UNTRACKED = """
// chorusTrack is false in Chorus's build (a Chorus patch): tracking recorded a stack trace
// in a pprof profile and set a finalizer for every iterator and transaction, a twelfth of
// FerretDB's CPU under a bulk of leavers, to panic on a leak.
const chorusTrack = false
"""

# 8. `$in` on a string field: a set lookup.
_IN_STOCK = """\
			arr, ok := exprValue.(*types.Array)
			if !ok {
				return false, handlererrors.NewCommandErrorMsgWithArgument(
					handlererrors.ErrBadValue,
					"$in needs an array",
					exprKey,
				)
			}

"""
_IN_FIXED = """\
			arr, ok := exprValue.(*types.Array)
			if !ok {
				return false, handlererrors.NewCommandErrorMsgWithArgument(
					handlererrors.ErrBadValue,
					"$in needs an array",
					exprKey,
				)
			}

			if chorusFound, decided := chorusIn(fieldValue, arr); decided {
				if !chorusFound {
					return false, nil
				}

				continue
			}

"""
_IN_HELPERS = """
// chorusInSet holds the strings of one $in array (a Chorus patch, see chorusIn).
type chorusInSet struct {
	strings map[string]struct{}
	other   bool // a regex, document or array: left to the stock loop
}

// chorusInSets caches a set per array. An entry holds its array, so while it lives no
// other array can have that address; all are dropped at 256 (one query's arrays are
// reused for each of its documents, then never again).
var chorusInSets = struct {
	sync.Mutex
	byArray map[*types.Array]*chorusInSet
}{byArray: map[*types.Array]*chorusInSet{}}

// chorusIn decides `fieldValue $in arr` for a string field against an array of scalars
// (found, true); (false, false) leaves it to the stock loop. A string equals only an
// equal string under types.Compare, so the set answers exactly what the loop would.
func chorusIn(fieldValue any, arr *types.Array) (bool, bool) {
	value, ok := fieldValue.(string)
	if !ok || arr.Len() < 16 {
		return false, false
	}

	chorusInSets.Lock()
	set := chorusInSets.byArray[arr]
	if set == nil {
		if len(chorusInSets.byArray) >= 256 {
			clear(chorusInSets.byArray)
		}

		set = &chorusInSet{strings: make(map[string]struct{}, arr.Len())}
		for i := 0; i < arr.Len(); i++ {
			switch element := must.NotFail(arr.Get(i)).(type) {
			case string:
				set.strings[element] = struct{}{}
			case *types.Document, *types.Array, types.Regex:
				set.other = true
			}
		}

		chorusInSets.byArray[arr] = set
	}
	chorusInSets.Unlock()

	if set.other {
		return false, false
	}

	_, found := set.strings[value]

	return found, true
}
"""

# 9. Non-unique indexes recorded, not built.
_INDEX_CREATE_STOCK = """\
		q := "CREATE "

		if index.Unique {
"""
_INDEX_CREATE_FIXED = """\
		// Chorus: v1 hands SQLite no filter but `_id`, so a non-unique index answers no
		// query and costs every write; it is recorded (listIndexes shows it), not built.
		if !index.Unique {
			created = append(created, index.Name)
			c.Settings.Indexes = append(c.Settings.Indexes, index)

			continue
		}

		q := "CREATE "

		if index.Unique {
"""

_Replacement = tuple[Path, str, str]  # file, stock text, fixed text (its first occurrence)
_Addition = tuple[Path, str]  # file, text appended after the replacements

# 1 and 2, then 3 to 5, then 6 to 8, then 9.
GROUPS: dict[str, tuple[tuple[_Replacement, ...], tuple[_Addition, ...]]] = {
    "index": (
        (
            (
                Path("internal/backends/sqlite/metadata/metadata.go"),
                "IDColumn = DefaultColumn + \"->'$._id'\"",
                'IDColumn = DefaultColumn + `->"_id"`',
            ),
            (Path("internal/backends/sqlite/collection.go"), _QUERY_STOCK, _QUERY_FIXED),
        ),
        ((Path("internal/backends/sqlite/collection.go"), _ID_IN_HELPER),),
    ),
    "writes": (
        (
            (Path("internal/util/fsql/db.go"), _DB_FIELDS_STOCK, _DB_FIELDS_FIXED),
            (Path("internal/util/fsql/db.go"), '\t"log/slog"\n', '\t"log/slog"\n\t"sync"\n'),
            (Path("internal/util/fsql/db.go"), _DB_EXEC_STOCK, _DB_EXEC_FIXED),
            (Path("internal/util/fsql/db.go"), _DB_TX_STOCK, _DB_TX_FIXED),
            (Path("internal/backends/sqlite/collection.go"), _INSERT_ALL_STOCK, _INSERT_ALL_FIXED),
            (Path("internal/backends/sqlite/collection.go"), _UPDATE_ALL_STOCK, _UPDATE_ALL_FIXED),
            (Path("internal/handler/common/update.go"), _UPDATE_START_STOCK, _UPDATE_START_FIXED),
            (Path("internal/handler/common/update.go"), _UPDATE_DONE_STOCK, _UPDATE_DONE_FIXED),
            (Path("internal/handler/common/update.go"), _UPDATE_WRITE_STOCK, _UPDATE_WRITE_FIXED),
            (Path("internal/handler/msg_findandmodify.go"), _REMOVE_STOCK, _REMOVE_FIXED),
        ),
        ((Path("internal/util/fsql/tx.go"), _TX_PREPARE),),
    ),
    "reads": (
        (
            (
                Path("internal/handler/sjson/sjson.go"),
                '\t"io"\n',
                '\t"io"\n\t"strconv"\n\t"sync"\n',
            ),
            (Path("internal/handler/sjson/sjson.go"), '\t"time"\n', '\t"time"\n\t"unicode/utf8"\n'),
            (Path("internal/handler/sjson/sjson.go"), _UNMARSHAL_STOCK, _UNMARSHAL_FIXED),
            (Path("internal/handler/sjson/sjson.go"), _SCALAR_STOCK, _SCALAR_FIXED),
            (Path("internal/handler/sjson/document.go"), _DOCUMENT_STOCK, _DOCUMENT_FIXED),
            (Path("internal/util/resource/resource.go"), _TRACK_STOCK, _TRACK_FIXED),
            (Path("internal/util/resource/resource.go"), _UNTRACK_STOCK, _UNTRACK_FIXED),
            (
                Path("internal/handler/common/filter.go"),
                '\t"strings"\n\t"time"\n',
                '\t"strings"\n\t"sync"\n\t"time"\n',
            ),
            (Path("internal/handler/common/filter.go"), _IN_STOCK, _IN_FIXED),
        ),
        (
            (Path("internal/handler/sjson/sjson.go"), _DECODE_HELPERS),
            (Path("internal/util/resource/resource.go"), _UNTRACKED),
            (Path("internal/handler/common/filter.go"), _IN_HELPERS),
        ),
    ),
    "indexes": (
        (
            (
                Path("internal/backends/sqlite/metadata/registry.go"),
                _INDEX_CREATE_STOCK,
                _INDEX_CREATE_FIXED,
            ),
            (
                Path("internal/backends/sqlite/metadata/registry.go"),
                'q := fmt.Sprintf("DROP INDEX %q", c.TableName+"_"+name)',
                'q := fmt.Sprintf("DROP INDEX IF EXISTS %q", c.TableName+"_"+name)',
            ),
        ),
        (),
    ),
}
# What each value of CHORUS_FERRETDB_PATCHES applies (`all` unless said; `index` and `none`
# are for comparing, as `make bench-ferretdb` does).
LEVELS: dict[str, tuple[str, ...]] = {
    "all": ("index", "writes", "reads", "indexes"),
    "index": ("index",),
    "none": (),
}
# Bumped whenever the patches change, so an old build is not reused.
PATCH_LEVEL = "indexes2"


def build_name(level: str) -> str:
    """The directory a build of `level` is kept in (var/tools/ferretdb/<name>)."""
    return {"all": PATCH_LEVEL, "none": "stock"}.get(level, f"{PATCH_LEVEL}-{level}-only")


def apply_patches(source_root: Path, level: str = "all") -> None:
    for group in LEVELS[level]:
        replacements, additions = GROUPS[group]
        for relative, stock, fixed in replacements:
            path = source_root / relative
            text = path.read_text()
            if stock not in text:
                raise ValueError(f"{relative} is not as expected; cannot apply the Chorus fix")
            path.write_text(text.replace(stock, fixed, 1))  # the first (Query; Explain reports)
        for relative, addition in additions:
            path = source_root / relative
            path.write_text(path.read_text() + addition)
