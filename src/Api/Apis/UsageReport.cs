using System.Globalization;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>Spending between two times, grouped by day, instance type, model or workload; by day, also split by instance type and model.</summary>
public static class UsageReport
{
    public const string Day = "day";

    public static readonly IReadOnlySet<string> Groupings = new HashSet<string>(StringComparer.Ordinal) { Day, "instanceType", "model", "workload", Member, Project };

    public const string Member = "member";
    public const string Project = "project";

    // R-USAGE-1: usage rows (LedgerKinds.UsageKinds) grouped by day, instance type or model.
    public static UsageDto Build(IReadOnlyList<UsageRow> rows, string groupBy, DateTimeOffset from, DateTimeOffset to)
    {
        var items = rows.GroupBy(r => Label(r, groupBy)).OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => new UsageItemDto(
            x.Key,
            Total(x),
            x.Sum(r => r.Count),
            groupBy == Day ? Split(x, r => r.InstanceType) : null,
            groupBy == Day ? Split(x, r => r.Model) : null)).ToList();
        return new UsageDto(groupBy, from, to, Total(rows), items);
    }

    private static string Label(UsageRow r, string groupBy) => groupBy switch
    {
        Day => r.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        "instanceType" => r.InstanceType ?? (r.Kind == LedgerEntryKind.SessionCharge ? "unknown" : "(inference and premium)"),
        "model" => r.Model ?? "(instances)",
        Member => r.MemberId ?? "(none)",
        Project => r.ProjectId ?? "(none)",
        _ => r.Workload ?? (r.Model is null ? "unknown" : "inference"),
    };

    private static Dictionary<string, decimal> Split(IEnumerable<UsageRow> rows, Func<UsageRow, string?> key) =>
        rows.Where(r => key(r) is not null).GroupBy(r => key(r)!).ToDictionary(x => x.Key, Total);

    private static decimal Total(IEnumerable<UsageRow> rows) => rows.Aggregate(Micros.Zero, (s, r) => s + r.Amount).ToUsd();
}
