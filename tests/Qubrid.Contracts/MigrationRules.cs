using System.Text.RegularExpressions;

namespace Qubrid.Contracts;

/// <summary>
/// Expand/contract for the schema (docs/design.md#versioned-contracts): a migration the previous release does not have
/// runs while that release still reads and writes the tables, so it may only expand. This reads a migration's SQL and
/// names each statement that would break the previous release: dropping a table, column, function, view, type, sequence
/// or default; renaming anything; changing a column's type; making a column NOT NULL, or adding a NOT NULL column
/// without a default. Dropping a constraint, an index, a trigger or a NOT NULL only loosens and is allowed. A file
/// that says <c>-- contract step:</c> (why, and since which release nothing uses what it drops) is the reviewed
/// contract step one release later, and is not checked.
/// </summary>
public static partial class MigrationRules
{
    public const string ContractStepMarker = "-- contract step:";

    [GeneratedRegex(@"--[^\n]*|/\*.*?\*/", RegexOptions.Singleline)] private static partial Regex Comments();
    [GeneratedRegex(@"\s+")] private static partial Regex Spaces();

    private static readonly (Regex Pattern, string Why)[] Forbidden =
    [
        (new(@"\bDROP (TABLE|COLUMN|FUNCTION|PROCEDURE|VIEW|MATERIALIZED VIEW|TYPE|SEQUENCE|SCHEMA|DOMAIN)\b", RegexOptions.IgnoreCase),
            "drops what the previous release may use"),
        (new(@"\bALTER TABLE\b.*\bDROP (?!CONSTRAINT\b|NOT NULL\b|COLUMN\b)(IF EXISTS )?\w+", RegexOptions.IgnoreCase),
            "drops a column (or a default) the previous release may use"),
        (new(@"\bALTER COLUMN \S+ DROP DEFAULT\b", RegexOptions.IgnoreCase), "drops a default the previous release's inserts rely on"),
        (new(@"\bRENAME\b", RegexOptions.IgnoreCase), "renames what the previous release uses by its old name"),
        (new(@"\bALTER COLUMN \S+ (SET DATA )?TYPE\b", RegexOptions.IgnoreCase), "changes a column's type under the previous release"),
        (new(@"\bSET NOT NULL\b", RegexOptions.IgnoreCase), "makes a column NOT NULL that the previous release may leave empty"),
        (new(@"\bADD (COLUMN )?(IF NOT EXISTS )?(?!(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN|EXCLUDE)\b)\w+ [^,]*\bNOT NULL\b(?![^,]*\b(DEFAULT|GENERATED)\b)(?<!\b(DEFAULT|GENERATED)\b[^,]*)",
            RegexOptions.IgnoreCase),
            "adds a NOT NULL column without a default: the previous release's inserts do not set it"),
    ];

    /// <summary>Each statement of <paramref name="sql"/> that breaks the previous release, with why; empty when it only expands.</summary>
    public static IReadOnlyList<string> Breaks(string fileName, string sql)
    {
        if (sql.Contains(ContractStepMarker, StringComparison.Ordinal)) return [];
        var breaks = new List<string>();
        foreach (var raw in Comments().Replace(sql, " ").Split(';'))
        {
            var statement = Spaces().Replace(raw, " ").Trim();
            if (statement.Length == 0) continue;
            foreach (var (pattern, why) in Forbidden)
            {
                if (pattern.IsMatch(statement))
                {
                    breaks.Add($"{fileName}: '{(statement.Length > 120 ? statement[..120] + "…" : statement)}' {why}");
                    break;
                }
            }
        }
        return breaks;
    }
}
