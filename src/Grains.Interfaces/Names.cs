using System.Text.RegularExpressions;

namespace Qubrid;

// R-INPUT-3: ids are 1–128 letters, digits or . _ : @ -; references: Limits below and RequestRules.
/// <summary>The one home of the ids' rule: user, session and payment ids are 1–128 letters, digits or . _ : @ -.</summary>
public static partial class Ids
{
    public const int MaxLength = 128;
    public const string Rule = "1–128 letters, digits or . _ : @ -, starting with a letter or digit";

    // \z, not $: "$" also matches before a final newline, which would let "alice\n" through.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\z")]
    private static partial Regex Pattern();

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);
}

/// <summary>Limits on what callers send, shared by the API's validation and the grains'.</summary>
public static class Limits
{
    /// <summary>Idempotency keys: 1–128 printable characters.</summary>
    public const int MaxIdempotencyKeyLength = 128;

    /// <summary>A ledger entry's reference (a reason, a model and its token counts, …).</summary>
    public const int MaxReferenceLength = 256;

    /// <summary>The reference a client adds to a premium charge (the entry's reference is the name plus it).</summary>
    public const int MaxClientReferenceLength = 128;
}

/// <summary>Names the silo, the API and the tests must agree on.</summary>
public static class ClusterNames
{
    /// <summary>The default Orleans cluster and service id (Qubrid:Silo:ClusterId / ServiceId).</summary>
    public const string DefaultClusterId = "qubrid";
    public const string DefaultServiceId = "qubrid";

    /// <summary>The grain storage provider holding session and rate card state.</summary>
    public const string GrainStorage = "qubrid";

    /// <summary>The OpenTelemetry meter of the billing metrics.</summary>
    public const string BillingMeter = "Qubrid.Billing";
}
