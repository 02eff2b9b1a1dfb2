using System.Data.Common;

namespace Qubrid;

/// <summary>
/// Turns a database failure inside any grain call into <see cref="StorageUnavailableException"/>: Npgsql's exceptions
/// have no Orleans codec, so a caller on another silo would get a codec error instead of something it can retry.
/// </summary>
public sealed class StorageFailureFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception e) when (AsStorageFailure(e) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>A serializable stand-in when <paramref name="e"/> is (or wraps) a database failure; null otherwise.</summary>
    public static StorageUnavailableException? AsStorageFailure(Exception e)
    {
        if (e is StorageUnavailableException) return null;
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is DbException)
                return new StorageUnavailableException($"The database is unavailable: {inner.GetType().Name}: {inner.Message}");
        }
        return null;
    }
}
