namespace Qubrid;

/// <summary>
/// The wallet has as many operations waiting for a commit as it accepts (back-pressure): nothing was done, and the
/// operation may be retried shortly (with the same idempotency key). Serializable, so it reaches the API as itself.
/// </summary>
[GenerateSerializer, Alias("qubrid.WalletBusyException")]
public sealed class WalletBusyException : Exception
{
    public WalletBusyException() { }

    public WalletBusyException(string message) : base(message) { }

    public WalletBusyException(string message, Exception innerException) : base(message, innerException) { }
}
