using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace Qubrid.Silo;

/// <summary>
/// Grain storage that answers database failures as <see cref="StorageUnavailableException"/>. A grain's state is read
/// while it activates, before any grain call filter runs: without this, a caller on another silo (or the API) would
/// get a codec error for Npgsql's exception instead of something it can retry.
/// </summary>
public sealed class StorageFailureTranslation(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Translate(() => inner.ReadStateAsync(stateName, grainId, grainState));

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Translate(() => inner.WriteStateAsync(stateName, grainId, grainState));

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Translate(() => inner.ClearStateAsync(stateName, grainId, grainState));

    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);

    private static async Task Translate(Func<Task> operation)
    {
        try
        {
            await operation();
        }
        catch (Exception e) when (StorageFailureFilter.AsStorageFailure(e) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>Wraps the grain storage registered under <paramref name="name"/> (keyed, by a factory) with <paramref name="decorate"/>.</summary>
    public static void Decorate(IServiceCollection services, string name, Func<IGrainStorage, IGrainStorage> decorate)
    {
        var registered = services.Last(d => d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, name));
        var factory = registered.KeyedImplementationFactory
            ?? throw new InvalidOperationException($"The grain storage '{name}' is not registered by a factory; it cannot be wrapped.");
        services.Remove(registered);
        services.AddKeyedSingleton<IGrainStorage>(name, (sp, key) => decorate((IGrainStorage)factory(sp, key)));
    }
}
