using Npgsql;
using NpgsqlTypes;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>
/// The statements of one ledger transaction over any number of wallets' batches, one per table, rows passed as arrays;
/// the ledger rows in the shape the cluster version gate calls for (CommitStatements.Shape.cs).
/// </summary>
internal static partial class CommitStatements
{
    /// <summary>SQLSTATE raised by qubrid_expect_rows (migration 0005) when a wallet's version moved.</summary>
    public const string VersionMoved = "QB001";

    public static void AddTo(NpgsqlBatch batch, IReadOnlyList<WalletCommit> commits, LedgerRowShape shape)
    {
        var rows = new Rows(shape);
        foreach (var commit in commits) rows.Collect(commit);
        AddCreatedWallets(batch, rows.Created);
        AddMovedWallets(batch, rows.Moved);
        AddNewLots(batch, rows.NewLots);
        AddLotRemaining(batch, rows.LotRemaining);
        AddEntries(batch, rows.Entries, shape);
        AddLotMoves(batch, rows.Moves);
        AddTopupReceipts(batch, rows.TopupReceipts);
        AddCardRefunds(batch, rows.CardRefunds);
        AddCreditNotes(batch, rows.CreditNotes);
        AddSessions(batch, rows.Sessions);
        AddInferenceCarry(batch, rows.Carry);
        AddHolds(batch, rows.Holds);
        AddControls(batch, rows.Controls);
        AddEvents(batch, rows.Events);
        AddOutcomes(batch, rows.Outcomes);
        // Last: under READ COMMITTED each statement reads what was committed when it starts, so the check also sees what
        // committed while this transaction waited on the wallet rows' locks (a concurrent commit of the wallet, the contract step).
        AddKeyCheck(batch, rows.Keys, shape);
    }

    private static void AddCreatedWallets(NpgsqlBatch batch, Columns created)
    {
        if (created.Rows == 0) return;
        batch.BatchCommands.Add(created.Command(
            """
            INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version, low_balance_notified)
            SELECT u.wallet_id, u.created_at, u.balance, u.next_seq, 1, u.low
            FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::boolean[]) AS u(wallet_id, created_at, balance, next_seq, low)
            """));
    }

    private static void AddMovedWallets(NpgsqlBatch batch, Columns moved)
    {
        if (moved.Rows == 0) return;
        // The optimistic check: every wallet must still be at the version its batch was decided on.
        // "= ANY($1)" lets the planner find the rows by primary key instead of hashing the whole table.
        batch.BatchCommands.Add(moved.Command(
            """
            WITH moved AS (
                UPDATE qubrid_wallets w
                SET balance = u.balance, next_seq = u.next_seq, low_balance_notified = u.low, version = w.version + 1
                FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[]) AS u(wallet_id, balance, next_seq, version, low)
                WHERE w.wallet_id = ANY($1) AND w.wallet_id = u.wallet_id AND w.version = u.version
                RETURNING 1)
            SELECT qubrid_expect_rows('qubrid_wallets', (SELECT count(*) FROM moved), cardinality($1::text[]))
            """));
    }

    private static void AddNewLots(NpgsqlBatch batch, Columns newLots)
    {
        if (newLots.Rows == 0) return;
        batch.BatchCommands.Add(newLots.Command(
            """
            INSERT INTO qubrid_lots (wallet_id, lot_id, kind, amount, remaining, granted_at, expires_at, source, scope)
            SELECT w, l, k, a, r, g, e, s, sc::jsonb
            FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[])
                AS u(w, l, k, a, r, g, e, s, sc)
            """));
    }

    private static void AddLotRemaining(NpgsqlBatch batch, Columns lotRemaining)
    {
        if (lotRemaining.Rows == 0) return;
        batch.BatchCommands.Add(lotRemaining.Command(
            """
            UPDATE qubrid_lots l SET remaining = u.remaining, expiry_notices = coalesce(u.notices, l.expiry_notices)
            FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::smallint[]) AS u(wallet_id, lot_id, remaining, notices)
            WHERE l.wallet_id = ANY($1) AND l.wallet_id = u.wallet_id AND l.lot_id = u.lot_id
            """));
    }

    private static void AddLotMoves(NpgsqlBatch batch, Columns moves)
    {
        if (moves.Rows == 0) return;
        batch.BatchCommands.Add(moves.Command(
            "INSERT INTO qubrid_ledger_lots (wallet_id, seq, lot_id, amount) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])"));
    }

    /// <summary>
    /// The CTEs that number rows without gaps per UTC year of their <c>at</c> from a counter row per year (receipts, credit
    /// notes): <c>numbered</c> is <paramref name="source"/>'s rows (<paramref name="columns"/>, in their order) with
    /// <c>year</c> and <c>serial</c>. The counter moves by as many rows in this statement, so the numbers commit or roll back
    /// with the entries; its row lock orders concurrent transactions.
    /// </summary>
    private static string YearSerials(string source, string columns, string counters) =>
        $"""
        WITH r AS (
            SELECT u.*, extract(year FROM u.at AT TIME ZONE 'UTC')::int AS year
            FROM {source} WITH ORDINALITY AS u({columns}, ord)),
        counted AS (
            INSERT INTO {counters} AS c (year, last_number)
            SELECT year, count(*) FROM r GROUP BY year
            ON CONFLICT (year) DO UPDATE SET last_number = c.last_number + EXCLUDED.last_number
            RETURNING year, last_number),
        numbered AS (
            SELECT r.*, c.last_number - count(*) OVER (PARTITION BY r.year) + row_number() OVER (PARTITION BY r.year ORDER BY r.ord) AS serial
            FROM r JOIN counted c ON c.year = r.year)
        """;

    /// <summary>A number such as <c>QC-2026-000001</c>: the prefix, the year and a serial of at least 6 digits.</summary>
    private static string NumberOf(string prefix) =>
        $"'{prefix}' || n.year || '-' || lpad(n.serial::text, greatest(6, length(n.serial::text)), '0')";

    // R-RCPT-1: gapless receipt numbers per UTC year, taken in the crediting transaction.
    /// <summary>
    /// Receipts of the top-ups in this transaction, numbered from the year's counter row, which this statement moves
    /// by as many: the numbers commit or roll back with the credit, so they have no gaps. The row lock on the
    /// counter orders concurrent transactions; the card comes from the payment row (the entry's reference).
    /// </summary>
    private static void AddTopupReceipts(NpgsqlBatch batch, Columns receipts)
    {
        if (receipts.Rows == 0) return;
        batch.BatchCommands.Add(receipts.Command(
            $"""
            {YearSerials("unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[], $6::bigint[])",
                "wallet_id, seq, at, amount, payment_id, lot_id", "qubrid_receipt_counters")}
            INSERT INTO qubrid_receipts (number, year, serial, wallet_id, seq, at, amount, payment_id, card_brand, card_last4, lot_id)
            SELECT {NumberOf("QC-")}, n.year, n.serial,
                   n.wallet_id, n.seq, n.at, n.amount, n.payment_id, p.card_brand, p.card_last4, n.lot_id
            FROM numbered n LEFT JOIN qubrid_payments p ON p.payment_id = n.payment_id
            """));
    }

    private static void AddSessions(NpgsqlBatch batch, Columns sessions)
    {
        if (sessions.Rows == 0) return;
        batch.BatchCommands.Add(sessions.Command(
            """
            INSERT INTO qubrid_wallet_sessions (wallet_id, session_id, instance_type, workload, usd_per_hour, started_at, state, stopped_at, charged, end_reason, charged_through)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[], $7::text[], $8::timestamptz[], $9::bigint[], $10::text[], $11::timestamptz[])
            ON CONFLICT (wallet_id, session_id) DO UPDATE
            SET state = EXCLUDED.state, stopped_at = EXCLUDED.stopped_at, charged = EXCLUDED.charged, end_reason = EXCLUDED.end_reason,
                charged_through = EXCLUDED.charged_through
            """));
    }

    private static void AddInferenceCarry(NpgsqlBatch batch, Columns carry)
    {
        if (carry.Rows == 0) return;
        batch.BatchCommands.Add(carry.Command(
            """
            INSERT INTO qubrid_inference_carry (wallet_id, model, carry_micros)
            SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
            ON CONFLICT (wallet_id, model) DO UPDATE SET carry_micros = EXCLUDED.carry_micros
            """));
    }

    private static void AddHolds(NpgsqlBatch batch, Columns holds)
    {
        if (holds.Rows == 0) return;
        batch.BatchCommands.Add(holds.Command(
            """
            INSERT INTO qubrid_holds (wallet_id, hold_no, amount, captured, state, created_at, expires_at, reference)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[])
            ON CONFLICT (wallet_id, hold_no) DO UPDATE SET captured = EXCLUDED.captured, state = EXCLUDED.state
            """));
    }

    private static void AddControls(NpgsqlBatch batch, Columns controls)
    {
        if (controls.Rows == 0) return;
        batch.BatchCommands.Add(controls.Command(
            """
            INSERT INTO qubrid_wallet_controls (wallet_id, owner_per_hour, owner_per_day, owner_per_month, admin_per_hour, admin_per_day, admin_per_month,
                warned_hour, warned_day, warned_month, reached_hour, reached_day, reached_month,
                auto_enabled, auto_threshold, auto_target, auto_token, auto_monthly_cap, auto_month_start, auto_spent_month,
                auto_failures, auto_disabled_reason, auto_next_attempt, auto_in_flight, auto_in_flight_amount, auto_retry_at)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
                $14::boolean[], $15::bigint[], $16::bigint[], $17::text[], $18::bigint[], $19::timestamptz[], $20::bigint[],
                $21::integer[], $22::text[], $23::bigint[], $24::bigint[], $25::bigint[], $26::timestamptz[])
            ON CONFLICT (wallet_id) DO UPDATE SET
                owner_per_hour = EXCLUDED.owner_per_hour, owner_per_day = EXCLUDED.owner_per_day, owner_per_month = EXCLUDED.owner_per_month,
                admin_per_hour = EXCLUDED.admin_per_hour, admin_per_day = EXCLUDED.admin_per_day, admin_per_month = EXCLUDED.admin_per_month,
                warned_hour = EXCLUDED.warned_hour, warned_day = EXCLUDED.warned_day, warned_month = EXCLUDED.warned_month,
                reached_hour = EXCLUDED.reached_hour, reached_day = EXCLUDED.reached_day, reached_month = EXCLUDED.reached_month,
                auto_enabled = EXCLUDED.auto_enabled, auto_threshold = EXCLUDED.auto_threshold, auto_target = EXCLUDED.auto_target,
                auto_token = EXCLUDED.auto_token, auto_monthly_cap = EXCLUDED.auto_monthly_cap, auto_month_start = EXCLUDED.auto_month_start,
                auto_spent_month = EXCLUDED.auto_spent_month, auto_failures = EXCLUDED.auto_failures, auto_disabled_reason = EXCLUDED.auto_disabled_reason,
                auto_next_attempt = EXCLUDED.auto_next_attempt, auto_in_flight = EXCLUDED.auto_in_flight,
                auto_in_flight_amount = EXCLUDED.auto_in_flight_amount, auto_retry_at = EXCLUDED.auto_retry_at
            """));
    }

    // R-EVENT-1: events in the batch's transaction, ids drawn under the event lock so they follow commit order.
    private static void AddEvents(NpgsqlBatch batch, Columns events)
    {
        if (events.Rows == 0) return;
        // Event ids must follow commit order so that a reader's cursor never skips one: event-writing
        // transactions (rare) take this lock before drawing ids and hold it until they commit.
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(81770001)"));
        batch.BatchCommands.Add(events.Command(
            """
            INSERT INTO qubrid_events (at, kind, wallet_id, session_id, reason, balance, runway_seconds, data)
            SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::jsonb[])
            """));
    }

    private static void AddOutcomes(NpgsqlBatch batch, Columns outcomes)
    {
        if (outcomes.Rows == 0) return;
        batch.BatchCommands.Add(outcomes.Command(
            """
            INSERT INTO qubrid_idempotency (wallet_id, idempotency_key, fingerprint, seq, amount, balance_after, lot_id, created_at, refusal_code, refusal_detail)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[], $10::text[])
            """));
    }

    /// <summary>The rows of every table, gathered from the wallets' batches in the order they were handed over.</summary>
    private sealed partial class Rows(LedgerRowShape shape)
    {
        public Columns Created { get; } = new(typeof(string), typeof(DateTime), typeof(long), typeof(long), typeof(bool));
        public Columns Moved { get; } = new(typeof(string), typeof(long), typeof(long), typeof(long), typeof(bool));
        public Columns NewLots { get; } = new(typeof(string), typeof(long), typeof(string), typeof(long), typeof(long), typeof(DateTime), typeof(DateTime), typeof(string),
            typeof(string));
        public Columns LotRemaining { get; } = new(typeof(string), typeof(long), typeof(long), typeof(short));
        public Columns Entries { get; } = new(typeof(string), typeof(long), typeof(DateTime), typeof(string), typeof(long), typeof(long), typeof(string), typeof(string), typeof(string), typeof(string), typeof(string), typeof(string),
            typeof(long), typeof(string), typeof(string), typeof(string));
        public Columns Keys { get; } = new(typeof(string), typeof(string), typeof(bool));
        public Columns Moves { get; } = new(typeof(string), typeof(long), typeof(long), typeof(long));
        public Columns TopupReceipts { get; } = new(typeof(string), typeof(long), typeof(DateTime), typeof(long), typeof(string), typeof(long));
        public Columns Sessions { get; } = new(typeof(string), typeof(string), typeof(string), typeof(string), typeof(decimal), typeof(DateTime), typeof(string), typeof(DateTime), typeof(long), typeof(string), typeof(DateTime));
        public Columns Carry { get; } = new(typeof(string), typeof(string), typeof(decimal));
        public Columns Holds { get; } = new(typeof(string), typeof(long), typeof(long), typeof(long), typeof(string), typeof(DateTime), typeof(DateTime), typeof(string));
        public Columns Controls { get; } = new(typeof(string), typeof(long), typeof(long), typeof(long), typeof(long), typeof(long), typeof(long),
            typeof(DateTime), typeof(DateTime), typeof(DateTime), typeof(DateTime), typeof(DateTime), typeof(DateTime),
            typeof(bool), typeof(long), typeof(long), typeof(string), typeof(long), typeof(DateTime), typeof(long),
            typeof(int), typeof(string), typeof(long), typeof(long), typeof(long), typeof(DateTime));
        public Columns Events { get; } = new(typeof(DateTime), typeof(string), typeof(string), typeof(string), typeof(string), typeof(long), typeof(long), typeof(string));
        public Columns Outcomes { get; } = new(typeof(string), typeof(string), typeof(string), typeof(long), typeof(long), typeof(long), typeof(long), typeof(DateTime),
            typeof(string), typeof(string));

        public void Collect(WalletCommit commit)
        {
            var book = commit.Book;
            var changes = commit.Changes;
            string walletId = book.WalletId;
            if (book.Version == 0)
                Created.Add(walletId, commit.Now.UtcDateTime, book.Balance.Value, book.NextSeq, book.LowBalanceNotified);
            else
                Moved.Add(walletId, book.Balance.Value, book.NextSeq, book.Version, book.LowBalanceNotified);
            CollectLots(commit);
            CollectTopupReceipts(commit);
            CollectEntriesAndOutcomes(commit);
            CollectCardRefunds(commit);
            foreach (var s in changes.Sessions.Values)
            {
                Sessions.Add(walletId, s.SessionId, s.InstanceType, s.Workload, s.UsdPerHour, s.StartedAt.UtcDateTime, s.State.ToWire(),
                    s.StoppedAt?.UtcDateTime, s.Charged.Value, s.EndReason, s.ChargedThrough?.UtcDateTime);
            }
            foreach (var (model, micros) in changes.InferenceCarry) Carry.Add(walletId, model, micros);
            foreach (var h in changes.Holds.Values)
                Holds.Add(walletId, h.Number, h.Amount.Value, h.Captured.Value, h.State.ToWire(), h.CreatedAt.UtcDateTime, h.ExpiresAt.UtcDateTime, h.Reference);
            if (changes.ControlsChanged) CollectControls(walletId, book.Limits, book.AutoTopup);
            foreach (var ev in changes.Events)
                Events.Add(ev.At.UtcDateTime, ev.Kind, walletId, ev.SessionId, ev.Reason, ev.Balance.Value, ev.RunwaySeconds, ev.Data);
        }

        private void CollectControls(string walletId, LimitSettings l, AutoTopupState a)
        {
            static DateTime? T(DateTimeOffset? t) => t?.UtcDateTime;
            Controls.Add(walletId, l.Owner.PerHour?.Value, l.Owner.PerDay?.Value, l.Owner.PerMonth?.Value,
                l.Admin.PerHour?.Value, l.Admin.PerDay?.Value, l.Admin.PerMonth?.Value,
                T(l.Warned.Hour), T(l.Warned.Day), T(l.Warned.Month), T(l.Reached.Hour), T(l.Reached.Day), T(l.Reached.Month),
                a.Enabled, a.Threshold.Value, a.Target.Value, a.PaymentToken, a.MonthlyCap.Value, T(a.MonthStart), a.SpentThisMonth.Value,
                a.ConsecutiveFailures, a.DisabledReason, a.NextAttempt, a.InFlight, a.InFlightAmount.Value, T(a.RetryAt));
        }

        /// <summary>Each top-up entry gets a receipt; its reference is the payment id (TopupService) and it created one lot.</summary>
        private void CollectTopupReceipts(WalletCommit commit)
        {
            foreach (var e in commit.Changes.Entries)
            {
                if (e.Kind != LedgerEntryKind.Topup) continue;
                long lotId = e.Lots.Count > 0 ? e.Lots[0].LotId : e.Seq;
                TopupReceipts.Add(commit.Book.WalletId, e.Seq, e.At.UtcDateTime, e.Amount.Value, e.Reference, lotId);
            }
        }

        /// <summary>New lots are inserted with what remains of them; a lot that existed before only has its remaining updated.</summary>
        private void CollectLots(WalletCommit commit)
        {
            var book = commit.Book;
            string walletId = book.WalletId;
            var newLotIds = new HashSet<long>();
            foreach (var lot in commit.Changes.NewLots)
            {
                newLotIds.Add(lot.Id);
                NewLots.Add(walletId, lot.Id, lot.Kind.ToWire(), lot.Amount.Value, book.RemainingOf(lot.Id).Value, lot.GrantedAt.UtcDateTime,
                    lot.ExpiresAt?.UtcDateTime, lot.Source, lot.Scope is { } scope ? CreditScopes.ToJson(scope) : null);
            }
            foreach (var lotId in commit.Changes.TouchedLots)
            {
                if (!newLotIds.Contains(lotId)) LotRemaining.Add(walletId, lotId, book.RemainingOf(lotId).Value, (short?)book.ExpiryNoticesOf(lotId));
            }
        }
    }

    /// <summary>Rows gathered column by column; each column becomes one typed array parameter (nulls allowed).</summary>
    private sealed class Columns(params Type[] types)
    {
        private readonly List<object?>[] _columns = types.Select(_ => new List<object?>()).ToArray();

        public int Rows => _columns[0].Count;

        public void Add(params object?[] row)
        {
            Invariant.Check(row.Length == _columns.Length, "a row has a value for every column");
            for (int i = 0; i < row.Length; i++) _columns[i].Add(row[i]);
        }

        /// <summary>The statement with the first <paramref name="columns"/> columns (all by default) as its parameters $1, $2, ...</summary>
        public NpgsqlBatchCommand Command(string sql, int? columns = null)
        {
            var command = new NpgsqlBatchCommand(sql);
            for (int c = 0; c < (columns ?? _columns.Length); c++)
            {
                var type = types[c].IsValueType ? typeof(Nullable<>).MakeGenericType(types[c]) : types[c];
                var array = Array.CreateInstance(type, _columns[c].Count);
                for (int i = 0; i < _columns[c].Count; i++) array.SetValue(_columns[c][i], i);
                var parameter = new NpgsqlParameter { Value = array };
                if (types[c] == typeof(DateTime)) parameter.NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz;
                command.Parameters.Add(parameter);
            }
            return command;
        }
    }
}
