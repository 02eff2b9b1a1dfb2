using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Qubrid.FaultDriver;

/// <summary>
/// Checks the database against what the driver recorded: every acknowledged operation is in the ledger
/// exactly once; nothing unacknowledged is there more than once; each session's total equals the metering
/// formula; and how long charging paused after a silo was killed.
/// </summary>
public static class VerifyCommand
{
    public static async Task<int> RunAsync(Options o)
    {
        var dir = o.Get("out");
        double interval = o.Seconds("interval") ?? 5;
        double? killAt = o.Seconds("kill-at");
        var ops = (await File.ReadAllLinesAsync(Path.Combine(dir, "ops.jsonl"))).Select(l => JsonSerializer.Deserialize<OpRecord>(l)!).ToList();
        var sessions = JsonSerializer.Deserialize<List<SessionRecord>>(await File.ReadAllTextAsync(Path.Combine(dir, "sessions.json")))!;
        await using var db = NpgsqlDataSource.Create(o.Get("db"));
        var failures = new List<string>();

        // Ledger entries per idempotency key (inference: the request's key; top-up: "payment:<payment id>").
        var entries = new Dictionary<string, List<(long Seq, long Amount)>>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT wallet_id || '|' || idempotency_key, seq, amount FROM qubrid_ledger WHERE idempotency_key IS NOT NULL AND wallet_id LIKE 'fault-%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var k = reader.GetString(0);
                if (!entries.TryGetValue(k, out var list)) entries[k] = list = [];
                list.Add((reader.GetInt64(1), reader.GetInt64(2)));
            }
        }
        var paymentsByKey = new Dictionary<string, (string PaymentId, string Status)>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT user_id || '|' || idempotency_key, payment_id, status FROM qubrid_payments WHERE user_id LIKE 'fault-%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) paymentsByKey[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2));
        }

        int acknowledged = 0, found = 0, lost = 0, doubled = 0, unacknowledged = 0, unackPresent = 0;
        foreach (var op in ops)
        {
            string ledgerKey = op.Kind == "inference"
                ? $"{op.WalletId}|{op.IdempotencyKey}"
                : paymentsByKey.TryGetValue($"{op.WalletId}|{op.IdempotencyKey}", out var p) ? $"{op.WalletId}|payment:{p.PaymentId}" : "";
            var hits = entries.GetValueOrDefault(ledgerKey) ?? [];
            if (hits.Count > 1) { doubled++; failures.Add($"{op.Kind} {op.IdempotencyKey}: {hits.Count} ledger entries"); }
            if (op.Acknowledged)
            {
                acknowledged++;
                if (hits.Count == 0) { lost++; failures.Add($"acknowledged {op.Kind} {op.IdempotencyKey} is not in the ledger"); continue; }
                found++;
                var (seq, amount) = hits[0];
                long expected = (long)decimal.Round((op.Amount ?? 0) * 1_000_000m) * (op.Kind == "inference" ? -1 : 1);
                if (amount != expected) failures.Add($"{op.Kind} {op.IdempotencyKey}: ledger amount {amount} µ, acknowledged {expected} µ");
                if (op.Kind == "inference" && op.Seq is { } s && s != seq) failures.Add($"inference {op.IdempotencyKey}: ledger seq {seq}, acknowledged {s}");
            }
            else
            {
                unacknowledged++;
                if (hits.Count > 0) unackPresent++; // fully there (atomic with balance and lots, proven by reconcile), never partial
                if (op.Status is 400 or 401 or 402 or 403 or 404 or 409 && hits.Count > 0) failures.Add($"refused {op.Kind} {op.IdempotencyKey} ({op.Status}) was written");
            }
        }

        // Sessions: total = round_down(rate × (stoppedAt − startedAt)) and the ledger holds exactly that.
        int sessionsChecked = 0, sessionsExact = 0;
        long driftMicros = 0;
        var charges = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT session_id, extract(epoch FROM at)::float8 FROM qubrid_ledger WHERE kind = 'session_charge' AND wallet_id LIKE 'fault-%' ORDER BY at"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var sid = reader.GetString(0);
                if (!charges.TryGetValue(sid, out var list)) charges[sid] = list = [];
                list.Add(reader.GetDouble(1));
            }
        }
        await using (var cmd = db.CreateCommand(
            """
            SELECT s.session_id, s.state, s.usd_per_hour, s.started_at, s.stopped_at, s.charged,
                   coalesce((SELECT -sum(l.amount) FROM qubrid_ledger l WHERE l.wallet_id = s.wallet_id AND l.session_id = s.session_id AND l.kind = 'session_charge'), 0)::bigint
            FROM qubrid_wallet_sessions s WHERE s.wallet_id LIKE 'fault-%'
            """))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                sessionsChecked++;
                var state = reader.GetString(1);
                decimal rate = reader.GetDecimal(2);
                var started = reader.GetDateTime(3);
                DateTime? stopped = reader.IsDBNull(4) ? null : reader.GetDateTime(4);
                long charged = reader.GetInt64(5), ledger = reader.GetInt64(6);
                if (state != "stopped" || stopped is null) { failures.Add($"session {reader.GetString(0)} is {state}, not stopped"); continue; }
                long ticks = (stopped.Value - started).Ticks;
                long expected = (long)decimal.Floor(rate * 1_000_000m * ticks / (3600m * TimeSpan.TicksPerSecond));
                driftMicros += Math.Abs(expected - charged) + Math.Abs(ledger - charged);
                if (expected == charged && ledger == charged) sessionsExact++;
                else failures.Add($"session {reader.GetString(0)}: formula {expected} µ, charged {charged} µ, ledger {ledger} µ");
            }
        }

        // Charging pauses: the longest gap between two charges of one session, and after a kill how long until it resumed.
        double longestGap = charges.Values.Where(l => l.Count > 1).Select(l => l.Zip(l.Skip(1), (a, b) => b - a).Max()).DefaultIfEmpty(0).Max();
        string resumeLine = "";
        if (killAt is { } kill)
        {
            // Every session running at the kill must be charged again within two intervals of it, wherever it lived.
            var delays = charges.Where(c => c.Value.Any(t => t < kill) && c.Value.Any(t => t > kill))
                .Select(c => c.Value.First(t => t > kill) - kill).ToList();
            double worst = delays.DefaultIfEmpty(double.MaxValue).Max();
            int onKilled = o.Int("sessions-on-killed-silo", -1);
            resumeLine = $"kill: {onKilled} sessions were running on the killed silo; all {delays.Count} running sessions charged again " +
                $"within {worst.ToString("0.0", CultureInfo.InvariantCulture)} s of the kill (limit {2 * interval:0} s = two intervals)";
            if (delays.Count == 0 || worst > 2 * interval) failures.Add($"charging resumed {worst:0.0} s after the kill, more than two intervals");
            if (onKilled == 0) failures.Add("no session was running on the killed silo: the kill tested nothing");
        }
        if (o.Seconds("failover-at") is { } primaryKilled)
        {
            // The primary killed at primaryKilled, the standby promoted at promotedAt: how long until a write was acknowledged
            // again (the first answer 2xx to an operation sent after the kill), and every running session charged again.
            double promotedAt = o.Seconds("promoted-at") ?? primaryKilled;
            var writesBack = ops.Where(r => r.Acknowledged && r.SentAt >= primaryKilled).Select(r => r.AnsweredAt).DefaultIfEmpty(double.NaN).Min();
            var delays = charges.Where(c => c.Value.Any(t => t < primaryKilled) && c.Value.Any(t => t > primaryKilled))
                .Select(c => c.Value.First(t => t > primaryKilled) - primaryKilled).ToList();
            double worst = delays.DefaultIfEmpty(double.MaxValue).Max();
            int unavailable = ops.Count(r => r.Status == 503 && r.SentAt >= primaryKilled && r.SentAt <= writesBack);
            // Ticks fail while no server takes writes: each session must be charged again within two intervals of the writes' return.
            double limit = (writesBack - primaryKilled) + 2 * interval;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"failover: primary killed, standby promoted {promotedAt - primaryKilled:0.0} s later; writes acknowledged again {writesBack - primaryKilled:0.0} s after the kill " +
                $"({unavailable} answers 503 until then); all {delays.Count} running sessions charged again within {worst:0.0} s of the kill (limit {limit:0.0} s: two intervals after the writes' return)"));
            if (double.IsNaN(writesBack)) failures.Add("no write was acknowledged after the failover");
            else if (delays.Count == 0 || worst > limit) failures.Add($"charging resumed {worst:0.0} s after the failover, more than two intervals after writes came back");
        }
        if (o.Seconds("fault-at") is { } faultAt)
        {
            // A fault with no command after it (the --ha mode): writes are unavailable for the longest stretch, from the
            // fault on, with no acknowledged write; a killed postmaster's orphaned backends may still acknowledge a few
            // (synchronously replicated) commits on their connections first, so "the first write after the fault" says
            // nothing here. Every running session must be charged again within two intervals of the writes' return.
            var answered = ops.Where(r => r.Acknowledged && r.AnsweredAt >= faultAt).Select(r => r.AnsweredAt).Order().Prepend(faultAt).ToList();
            double gapFrom = faultAt, gapTo = double.NaN;
            for (int i = 1; i < answered.Count; i++)
            {
                if (double.IsNaN(gapTo) || answered[i] - answered[i - 1] > gapTo - gapFrom) { gapFrom = answered[i - 1]; gapTo = answered[i]; }
            }
            var delays = charges.Where(c => c.Value.Any(t => t < faultAt) && c.Value.Any(t => t > faultAt))
                .Select(c => c.Value.First(t => t > faultAt) - faultAt).ToList();
            double worst = delays.DefaultIfEmpty(double.MaxValue).Max();
            int unavailable = ops.Count(r => r.Status == 503 && r.SentAt >= faultAt);
            double limit = (gapTo - faultAt) + 2 * interval;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fault: no write acknowledged from {gapFrom - faultAt:0.0} s to {gapTo - faultAt:0.0} s after the fault: writes unavailable {gapTo - gapFrom:0.0} s, " +
                $"acknowledged again {gapTo - faultAt:0.0} s after the fault ({unavailable} answers 503 after the fault); all {delays.Count} running sessions " +
                $"charged again within {worst:0.0} s of the fault (limit {limit:0.0} s: two intervals after the writes' return)"));
            if (double.IsNaN(gapTo)) failures.Add("no write was acknowledged after the fault");
            else if (delays.Count == 0 || worst > limit) failures.Add($"charging resumed {worst:0.0} s after the fault, more than two intervals after writes came back");
        }
        if (o.Seconds("outage-to") is { } outageEnd)
        {
            int unavailable = ops.Count(r => r.Status == 503);
            int problem503 = ops.Count(r => r.Status == 503 && r.ProblemJson && r.Code == "service_unavailable");
            int okAfter = ops.Count(r => r.Acknowledged && r.SentAt > outageEnd);
            Console.WriteLine($"database outage: {unavailable} answers 503 ({problem503} as problem+json service_unavailable), {okAfter} acknowledged after recovery");
            if (unavailable == 0) failures.Add("no 503 while the database was down");
            if (problem503 != unavailable) failures.Add("a 503 was not problem+json with code service_unavailable");
            if (okAfter == 0) failures.Add("nothing succeeded after the database came back");
        }

        if (o.Find("upgrade") is not null)
        {
            // A rolling upgrade: no answer other than a retryable 503 because of it. Every 5xx is a 503 with Retry-After and a
            // problem+json code, and every operation got an answer (the load balancer keeps the address).
            var fiveXx = ops.Where(r => r.Status >= 500).ToList();
            var bad = fiveXx.Where(r => r.Status != 503 || !r.ProblemJson || string.IsNullOrEmpty(r.RetryAfter)
                || r.Code is not ("service_unavailable" or "wallet_busy")).ToList();
            int unanswered = ops.Count(r => r.Status == 0);
            double longestWait = ops.Select(r => r.AnsweredAt - r.SentAt).DefaultIfEmpty(0).Max();
            string longestRetryAfter = fiveXx.Select(r => int.TryParse(r.RetryAfter, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : -1)
                .DefaultIfEmpty(0).Max().ToString(CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"upgrade: {fiveXx.Count} answers 5xx, {fiveXx.Count - bad.Count} of them 503 problem+json with Retry-After (longest Retry-After {longestRetryAfter} s); " +
                $"{unanswered} unanswered; longest wait for an answer {longestWait:0.00} s"));
            foreach (var r in bad.Take(5)) failures.Add($"{r.Kind} {r.IdempotencyKey}: {r.Status} code {r.Code ?? "none"} problem+json {r.ProblemJson} Retry-After {r.RetryAfter ?? "none"}");
            if (unanswered > 0) failures.Add($"{unanswered} operations got no answer at all");
        }
        if (o.Find("max-gap") is not null || o.Find("events") is not null)
            PauseReport.Print(PauseReport.Pauses(charges), PauseReport.ReadEvents(o.Find("events")), interval, threshold: 1.5 * interval, max: 12);
        if (o.Find("previous-release") is { } previousRelease && o.Seconds("max-gap-previous-drain") is { } drainBound)
        {
            // Pauses during the drain of a previous-release silo: reported and bounded on their own (PauseReport.PreviousReleaseDrains);
            // every other pause keeps the --max-gap bound.
            var drains = PauseReport.PreviousReleaseDrains(PauseReport.ReadEvents(o.Find("events")), previousRelease);
            var pauses = PauseReport.Pauses(charges);
            bool InDrain(PauseReport.Pause p) => drains.Any(d => p.From < d.To && p.To > d.From);
            double drainLongest = pauses.Where(InDrain).Select(p => p.Length).DefaultIfEmpty(0).Max();
            longestGap = pauses.Where(p => !InDrain(p)).Select(p => p.Length).DefaultIfEmpty(0).Max();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pauses overlapping the drain of a previous-release silo ({string.Join(", ", drains.Select(d => d.Process))}): longest {drainLongest:0.0} s (bound {drainBound:0.#} s); longest other pause {longestGap:0.0} s"));
            if (drainLongest > drainBound)
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"a session went {drainLongest:0.0} s without a charge during a previous-release silo's drain, more than {drainBound:0.#} s"));
        }
        if (o.Seconds("max-gap") is { } maxGap && longestGap > maxGap)
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"a session went {longestGap:0.0} s without a charge, more than {maxGap:0.#} s"));

        Console.WriteLine($"operations: {ops.Count} sent, {acknowledged} acknowledged, {found} found, {lost} lost, {doubled} doubled; " +
            $"{unacknowledged} unacknowledged ({unackPresent} of them complete in the ledger, the rest absent)");
        Console.WriteLine($"sessions: {sessionsChecked} checked, {sessionsExact} exactly equal to the formula, total drift {driftMicros} µ; longest pause between charges {longestGap.ToString("0.0", CultureInfo.InvariantCulture)} s");
        if (resumeLine.Length > 0) Console.WriteLine(resumeLine);
        if (sessionsChecked == 0) failures.Add("no session was checked");
        foreach (var f in failures.Take(20)) Console.WriteLine($"FAIL {f}");
        Console.WriteLine(failures.Count == 0 ? "verify: OK" : $"verify: {failures.Count} failures");
        return failures.Count == 0 ? 0 : 1;
    }
}
