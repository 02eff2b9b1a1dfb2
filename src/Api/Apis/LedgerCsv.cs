using System.Globalization;
using System.Text;

namespace Qubrid.Api.Apis;

/// <summary>
/// A wallet's transaction history as CSV: newest first, at most <see cref="MaxRows"/> rows (whole pages), spreadsheet-safe
/// cells, written to the response page by page as the pages are read (never the whole history in memory).
/// </summary>
public static class LedgerCsv
{
    public const int MaxRows = 100_000;

    public const string Header = "seq,at,kind,amount,balanceAfter,reference,idempotencyKey,lots,memberId,projectId\n";

    /// <summary>
    /// The CSV download of the entries <paramref name="query"/> selects (its page size is ignored), or null when the wallet does
    /// not exist. The first page is read here, so that a missing wallet is still a 404; the rest while the response is written.
    /// </summary>
    public static async Task<CsvFileResult?> OpenAsync(Func<LedgerQuery, Task<LedgerPage?>> readPage, LedgerQuery query, string fileName)
    {
        query = query with { Limit = LedgerQuery.MaxLimit };
        var first = await readPage(query);
        if (first is null) return null;
        return new CsvFileResult((body, ct) => WriteAsync(readPage, query, first, body, ct), fileName);
    }

    private static async Task WriteAsync(Func<LedgerQuery, Task<LedgerPage?>> readPage, LedgerQuery query, LedgerPage first, Stream body, CancellationToken ct)
    {
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        await body.WriteAsync(utf8.GetBytes(Header), ct);
        var csv = new StringBuilder();
        LedgerPage? page = first;
        for (int rows = 0; page is not null;)
        {
            csv.Clear();
            foreach (var e in page.Items) AppendRow(csv, e);
            await body.WriteAsync(utf8.GetBytes(csv.ToString()), ct);
            await body.FlushAsync(ct);
            rows += page.Items.Count;
            if (rows >= MaxRows || page.NextBefore is null) break;
            query = query with { Before = page.NextBefore };
            page = await readPage(query);
        }
    }

    private static void AppendRow(StringBuilder csv, LedgerEntryView e)
    {
        csv.Append(e.Seq).Append(',').Append(e.At.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture)).Append(',')
            .Append(e.Kind.ToWire()).Append(',').Append(e.Amount.ToUsd().ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(e.BalanceAfter.ToUsd().ToString(CultureInfo.InvariantCulture)).Append(',').Append(Cell(e.Reference)).Append(',')
            .Append(Cell(e.IdempotencyKey ?? "")).Append(',')
            .Append(Cell(string.Join(';', e.Lots.Select(m => $"{m.LotId}:{m.Amount.ToUsd().ToString(CultureInfo.InvariantCulture)}")))).Append(',')
            .Append(Cell(e.Usage?.MemberId ?? "")).Append(',').Append(Cell(e.Usage?.ProjectId ?? "")).Append('\n');
    }

    /// <summary>
    /// A text cell a spreadsheet shows and does not run: one starting like a formula (= + - @, or a tab or carriage return,
    /// which some spreadsheets skip before looking for one) gets a leading <c>'</c>; one holding a separator, a quote or a
    /// line break is quoted. (Quoting alone is not enough: a quoted <c>"=1+1"</c> is still evaluated.)
    /// </summary>
    public static string Cell(string value)
    {
        if (value.Length > 0 && "=+-@\t\r".Contains(value[0])) value = "'" + value;
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"")}\"" : value;
    }
}
