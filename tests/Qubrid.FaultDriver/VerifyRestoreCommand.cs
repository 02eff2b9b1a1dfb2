using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Qubrid.FaultDriver;

/// <summary>
/// Checks a copy restored to an instant against what the driver recorded: every operation acknowledged before the
/// instant is in its ledger exactly once, nothing sent after the instant is there (the restore stopped there), and
/// every wallet's balance equals the sum of its entries.
/// </summary>
public static class VerifyRestoreCommand
{
    public static async Task<int> RunAsync(Options o)
    {
        double at = o.Seconds("at") ?? throw new ArgumentException("--at is required");
        var ops = new List<OpRecord>();
        foreach (var dir in o.Get("outs").Split(',', StringSplitOptions.RemoveEmptyEntries))
            ops.AddRange((await File.ReadAllLinesAsync(Path.Combine(dir, "ops.jsonl"))).Select(l => JsonSerializer.Deserialize<OpRecord>(l)!));
        await using var db = NpgsqlDataSource.Create(o.Get("db"));
        var failures = new List<string>();

        var entries = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT wallet_id || '|' || idempotency_key FROM qubrid_ledger WHERE idempotency_key IS NOT NULL AND wallet_id LIKE 'fault-%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) entries[reader.GetString(0)] = entries.GetValueOrDefault(reader.GetString(0)) + 1;
        }
        var payments = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("SELECT user_id || '|' || idempotency_key, payment_id FROM qubrid_payments WHERE user_id LIKE 'fault-%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) payments[reader.GetString(0)] = reader.GetString(1);
        }

        int ackedBefore = 0, found = 0, lost = 0, doubled = 0, sentAfter = 0, presentAfter = 0;
        foreach (var op in ops)
        {
            string key = op.Kind == "inference"
                ? $"{op.WalletId}|{op.IdempotencyKey}"
                : payments.TryGetValue($"{op.WalletId}|{op.IdempotencyKey}", out var paymentId) ? $"{op.WalletId}|payment:{paymentId}" : "";
            int hits = entries.GetValueOrDefault(key);
            if (hits > 1) { doubled++; failures.Add($"{op.Kind} {op.IdempotencyKey}: {hits} ledger entries"); }
            if (op.Acknowledged && op.AnsweredAt + 0.001 < at) // answer times are recorded to the millisecond, rounded down
            {
                ackedBefore++;
                if (hits == 0) { lost++; failures.Add($"{op.Kind} {op.IdempotencyKey}, acknowledged before the instant, is not in the restored ledger"); }
                else found++;
            }
            else if (op.SentAt > at)
            {
                sentAfter++;
                if (hits > 0) { presentAfter++; failures.Add($"{op.Kind} {op.IdempotencyKey}, sent after the instant, is in the restored ledger"); }
            }
        }

        long wallets = 0, mismatched = 0;
        await using (var cmd = db.CreateCommand(
            """
            SELECT w.wallet_id, w.balance, coalesce((SELECT sum(l.amount) FROM qubrid_ledger l WHERE l.wallet_id = w.wallet_id), 0)::bigint
            FROM qubrid_wallets w WHERE w.wallet_id LIKE 'fault-%'
            """))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                wallets++;
                if (reader.GetInt64(1) != reader.GetInt64(2)) { mismatched++; failures.Add($"wallet {reader.GetString(0)}: balance {reader.GetInt64(1)} µ, entries {reader.GetInt64(2)} µ"); }
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"restore: {ackedBefore} operations acknowledged before the instant, {found} found, {lost} lost, {doubled} doubled; " +
            $"{sentAfter} sent after it, {presentAfter} present; {wallets} wallets, {wallets - mismatched} with balance = Σ entries"));
        if (ackedBefore == 0) failures.Add("no operation was acknowledged before the instant: the drill tested nothing");
        if (sentAfter == 0) failures.Add("no operation was sent after the instant: the drill did not test the cut");
        if (wallets == 0) failures.Add("no wallet in the restored copy");
        foreach (var f in failures.Take(20)) Console.WriteLine($"FAIL {f}");
        Console.WriteLine(failures.Count == 0 ? "verify-restore: OK" : $"verify-restore: {failures.Count} failures");
        return failures.Count == 0 ? 0 : 1;
    }
}
