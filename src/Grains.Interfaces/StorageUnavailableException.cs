namespace Qubrid;

/// <summary>
/// The database could not be reached or failed mid-call: the operation may be retried (with the same idempotency
/// key). Storage exceptions (Npgsql's) cannot cross silos, so grains answer this serializable one instead.
/// </summary>
[GenerateSerializer, Alias("qubrid.StorageUnavailableException")]
public sealed class StorageUnavailableException : Exception
{
    public StorageUnavailableException() { }

    public StorageUnavailableException(string message) : base(message) { }

    public StorageUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
