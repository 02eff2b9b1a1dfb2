using Microsoft.Extensions.Hosting;
using Npgsql;
using Qubrid.Silo;
using Qubrid.Storage;

if (args is ["reconcile", ..])
{
    var configuration = Host.CreateApplicationBuilder(args[1..]).Configuration;
    return await ReconcileCommand.RunAsync(configuration, Console.Out);
}

var builder = Host.CreateApplicationBuilder(args);
string connectionString;
try
{
    connectionString = builder.Configuration.RequireConnectionString();
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
builder.AddQubridSilo();
var host = builder.Build();
await SiloHostingExtensions.MigrateAsync(connectionString);
await host.RunAsync();
return 0;
