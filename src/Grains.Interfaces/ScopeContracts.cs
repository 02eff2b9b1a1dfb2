using System.Text;
using System.Text.Json;

namespace Qubrid;

/// <summary>
/// What a scoped lot may pay for (docs/rules.md#R-SCOPE-1): usage that matches every list given. A list is never empty;
/// at least one is given. Lists are normalized (<see cref="CreditScopes.Normalize"/>): distinct, in ordinal order.
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreditScope")]
public sealed record CreditScope(
    [property: Id(0)] IReadOnlyList<string>? InstanceTypes = null,
    [property: Id(1)] IReadOnlyList<string>? Models = null,
    [property: Id(2)] IReadOnlyList<string>? Workloads = null)
{
    /// <summary>Value equality over the lists' items (a record compares lists by reference otherwise).</summary>
    public bool Equals(CreditScope? other) => other is not null && CreditScopes.ToJson(this) == CreditScopes.ToJson(other);

    public override int GetHashCode() => CreditScopes.ToJson(this).GetHashCode(StringComparison.Ordinal);
}

/// <summary>A scope's validation: the normalized scope, or why it was refused (a stable error code and a sentence).</summary>
public readonly record struct ScopeCheck(CreditScope? Scope, string? ErrorCode, string? Detail)
{
    public bool Valid => ErrorCode is null;
}

/// <summary>
/// The one place that validates, normalizes, matches and stores scopes. Pure; callable from the API (grants, promotions)
/// and the grains alike.
/// </summary>
public static class CreditScopes
{
    /// <summary>At most this many names in one list.</summary>
    public const int MaxNamesPerList = 32;

    /// <summary>
    /// Validates and normalizes a scope as a client sent it. Null in, null out (unscoped). Each list given is non-empty, its
    /// names non-blank and known (<paramref name="knownInstanceTypes"/>, <paramref name="knownModels"/>: models and premium
    /// names; a null set skips that membership check, e.g. in the grain, which trusts the API's catalog check); workloads are
    /// <see cref="Workloads.All"/>. A scope naming models cannot also name instance types or workloads: no usage carries both
    /// (a session has an instance type and a workload, a query or premium access a model), so it could pay for nothing.
    /// </summary>
    public static ScopeCheck Normalize(CreditScope? scope, IReadOnlyCollection<string>? knownInstanceTypes, IReadOnlyCollection<string>? knownModels)
    {
        if (scope is null) return new(null, null, null);
        if (scope.InstanceTypes is null && scope.Models is null && scope.Workloads is null)
            return Refused(ErrorCodes.InvalidScope, "A scope names at least one of instanceTypes, models or workloads.");
        if (scope.Models is not null && (scope.InstanceTypes is not null || scope.Workloads is not null))
            return Refused(ErrorCodes.InvalidScope,
                "A scope naming models cannot also name instanceTypes or workloads: no usage has both a model and an instance type.");
        var (types, typesError) = List("instanceTypes", scope.InstanceTypes, knownInstanceTypes, ErrorCodes.UnknownInstanceType, "instance type");
        if (typesError is not null) return typesError.Value;
        var (models, modelsError) = List("models", scope.Models, knownModels, ErrorCodes.UnknownModel, "model or premium API");
        if (modelsError is not null) return modelsError.Value;
        var (workloads, workloadsError) = List("workloads", scope.Workloads, Workloads.All, ErrorCodes.InvalidScope, "workload");
        if (workloadsError is not null) return workloadsError.Value;
        return new(new CreditScope(types, models, workloads), null, null);
    }

    private static (IReadOnlyList<string>? List, ScopeCheck? Error) List(string name, IReadOnlyList<string>? names,
        IReadOnlyCollection<string>? known, string unknownCode, string what)
    {
        if (names is null) return (null, null);
        if (names.Count == 0) return (null, Refused(ErrorCodes.InvalidScope, $"scope.{name} is not empty when given."));
        if (names.Count > MaxNamesPerList) return (null, Refused(ErrorCodes.InvalidScope, $"scope.{name} names at most {MaxNamesPerList}."));
        foreach (var n in names)
        {
            if (string.IsNullOrWhiteSpace(n) || n.Length > 64 || n.Any(char.IsControl))
                return (null, Refused(ErrorCodes.InvalidScope, $"scope.{name} holds names of 1–64 printable characters."));
            if (known is not null && !known.Contains(n, StringComparer.Ordinal))
                return (null, Refused(unknownCode, $"Unknown {what} '{n}' in scope.{name}."));
        }
        return (names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(), null);
    }

    private static ScopeCheck Refused(string code, string detail) => new(null, code, detail);

    // R-SCOPE-1: a scoped lot pays only for usage that matches every list its scope gives.
    /// <summary>
    /// Whether a lot with <paramref name="scope"/> may pay for <paramref name="usage"/>. An unscoped lot pays for anything; a scoped
    /// one only for usage that names a value in every list given (a debit without usage, e.g. an adjustment, matches no scope).
    /// A premium access carries its name as its model, so it matches a scope whose models name it.
    /// </summary>
    public static bool Matches(CreditScope? scope, UsageTags? usage)
    {
        if (scope is null) return true;
        if (usage is null) return false;
        return In(scope.InstanceTypes, usage.InstanceType) && In(scope.Models, usage.Model) && In(scope.Workloads, usage.Workload);
    }

    private static bool In(IReadOnlyList<string>? list, string? value) =>
        list is null || (value is not null && list.Contains(value, StringComparer.Ordinal));

    /// <summary>The canonical JSON form (stored in <c>qubrid_lots.scope</c>, part of a grant's fingerprint): lists given only, in order.</summary>
    public static string ToJson(CreditScope scope)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            Write(w, "instanceTypes", scope.InstanceTypes);
            Write(w, "models", scope.Models);
            Write(w, "workloads", scope.Workloads);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Write(Utf8JsonWriter w, string name, IReadOnlyList<string>? list)
    {
        if (list is null) return;
        w.WriteStartArray(name);
        foreach (var item in list) w.WriteStringValue(item);
        w.WriteEndArray();
    }

    /// <summary>Reads <see cref="ToJson"/>'s form back (null for a null column).</summary>
    public static CreditScope? FromJson(string? json)
    {
        if (json is null) return null;
        using var doc = JsonDocument.Parse(json);
        IReadOnlyList<string>? Read(string name) =>
            doc.RootElement.TryGetProperty(name, out var a) ? a.EnumerateArray().Select(e => e.GetString()!).ToList() : null;
        return new CreditScope(Read("instanceTypes"), Read("models"), Read("workloads"));
    }
}
