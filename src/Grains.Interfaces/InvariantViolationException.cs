namespace Qubrid;

/// <summary>A rule of the ledger would be broken: a bug, never an expected outcome. Checked in Release builds too.</summary>
[GenerateSerializer, Alias("qubrid.InvariantViolationException")]
public sealed class InvariantViolationException : Exception
{
    public InvariantViolationException() { }

    public InvariantViolationException(string message) : base(message) { }

    public InvariantViolationException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>Assertions of the ledger's invariants next to the code that could break them (TigerBeetle's habit).</summary>
public static class Invariant
{
    public static void Check(bool holds, string rule)
    {
        if (!holds) throw new InvariantViolationException($"Invariant violated: {rule}.");
    }
}
