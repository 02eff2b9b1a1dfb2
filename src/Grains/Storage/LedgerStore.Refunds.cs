using Npgsql;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>Loading a wallet's refunds to the card that are reserved and not settled: the book keeps them from its lots.</summary>
public sealed partial class LedgerStore
{
    private const string SelectPendingRefunds =
        "SELECT refund_id, payment_id, lot_id, amount, reason, idempotency_key, created_at FROM qubrid_card_refunds";

    private static readonly TimeSpan RefundTablesRecheck = TimeSpan.FromSeconds(30);
    private volatile bool _refundTables;
    private long _refundTablesCheckedAt = long.MinValue;

    /// <summary>
    /// Whether migration 0061 ran. Once it has, for good; until then this release's silo runs beside the previous schema
    /// (a rolling upgrade migrates first, but tests and operators may not), checked again every 30 s.
    /// </summary>
    private async Task<bool> HasRefundTablesAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        if (_refundTables) return true;
        long now = Environment.TickCount64;
        if (Interlocked.Read(ref _refundTablesCheckedAt) > now - (long)RefundTablesRecheck.TotalMilliseconds) return false;
        await using var cmd = new NpgsqlCommand("SELECT to_regclass('qubrid_card_refunds') IS NOT NULL", conn);
        _refundTables = (bool)(await cmd.ExecuteScalarAsync(ct))!;
        Interlocked.Exchange(ref _refundTablesCheckedAt, now);
        return _refundTables;
    }

    private static async Task<List<PendingCardRefund>> ReadPendingRefundsAsync(NpgsqlDataReader reader, CancellationToken ct)
    {
        var refunds = new List<PendingCardRefund>();
        await reader.NextResultAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            refunds.Add(new PendingCardRefund(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), new Micros(reader.GetInt64(3)),
                reader.GetString(4), reader.GetString(5), new DateTimeOffset(reader.GetDateTime(6), TimeSpan.Zero)));
        }
        return refunds;
    }

    private static WalletBook WithRefunds(WalletBook book, List<PendingCardRefund> refunds)
    {
        foreach (var r in refunds) book.AddPendingRefund(r);
        return book;
    }
}
