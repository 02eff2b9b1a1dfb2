using System.Globalization;
using System.Text;

namespace Qubrid.Api.Apis;

/// <summary>A wallet's transaction history as CSV: newest first, at most <see cref="MaxRows"/> rows (whole pages), spreadsheet-safe cells.</summary>
public static class LedgerCsv
{
    public const int MaxRows = 100_000;

    public const string Header = "seq,at,kind,amount,balanceAfter,reference,idempotencyKey,lots\n";

    /// <summary>The CSV of the entries <paramref name="query"/> selects (its page size is ignored), or null when the wallet does not exist.</summary>
    public static async Task<byte[]?> WriteAsync(IWalletGrain wallet, LedgerQuery query)
    {
        var csv = new StringBuilder(Header);
        query = query with { Limit = LedgerQuery.MaxLimit };
        for (int rows = 0; rows < MaxRows;)
        {
            var page = await wallet.GetLedger(query);
            if (page is null) return null;
            foreach (var e in page.Items) AppendRow(csv, e);
            rows += page.Items.Count;
            if (page.NextBefore is null) break;
            query = query with { Before = page.NextBefore };
        }
        return Encoding.UTF8.GetBytes(csv.ToString());
    }

    private static void AppendRow(StringBuilder csv, LedgerEntryView e)
    {
        csv.Append(e.Seq).Append(',').Append(e.At.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture)).Append(',')
            .Append(e.Kind.ToWire()).Append(',').Append(e.Amount.ToUsd().ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(e.BalanceAfter.ToUsd().ToString(CultureInfo.InvariantCulture)).Append(',').Append(Cell(e.Reference)).Append(',')
            .Append(Cell(e.IdempotencyKey ?? "")).Append(',')
            .Append(Cell(string.Join(';', e.Lots.Select(m => $"{m.LotId}:{m.Amount.ToUsd().ToString(CultureInfo.InvariantCulture)}")))).Append('\n');
    }

    /// <summary>Quoted when it holds a separator, a quote or a line break, or starts like a formula (=+-@) a spreadsheet would run.</summary>
    private static string Cell(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 || (value.Length > 0 && "=+-@".Contains(value[0]))
            ? $"\"{value.Replace("\"", "\"\"")}\""
            : value;
}
