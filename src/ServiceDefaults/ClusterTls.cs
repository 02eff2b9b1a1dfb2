using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace Qubrid.ServiceDefaults;

/// <summary>
/// TLS inside the cluster (<c>Qubrid:Tls</c>): between silos, and between an Orleans client (the API) and a silo's
/// gateway. Mutual: both ends present a certificate, and each accepts only certificates issued by the configured CA
/// (<see cref="CaPath"/>), so a process that can reach a silo or gateway port but holds no such certificate cannot
/// join the cluster nor call a grain.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "Qubrid:Tls";

    /// <summary>On when a certificate is configured, unless set; <c>false</c> runs without TLS (as before), <c>true</c> without a certificate refuses to start.</summary>
    public bool? Enabled { get; set; }

    /// <summary>This process's certificate: a PEM file (key in <see cref="KeyPath"/> or in the same file) or a PKCS#12 file (.pfx/.p12).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="CertificatePath"/>, when it is not in the same file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The PKCS#12 file's password, or the PEM key's when it is encrypted.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>The CA (PEM) whose certificates this cluster trusts; the only one: the machine's trust store is not used.</summary>
    public string? CaPath { get; set; }

    public bool IsEnabled => Enabled ?? !string.IsNullOrWhiteSpace(CertificatePath);

    public static ClusterTlsOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<ClusterTlsOptions>() ?? new ClusterTlsOptions();
}

public static class ClusterTls
{
    /// <summary>Silo to silo and client to gateway both over mutual TLS, when <c>Qubrid:Tls</c> says so.</summary>
    public static ISiloBuilder UseQubridTls(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = ClusterTlsOptions.From(configuration);
        if (!options.IsEnabled) return silo;
        var (certificate, ca) = Load(options);
        return silo.UseTls(certificate, tls => Configure(tls, ca));
    }

    /// <summary>The client side: presents the certificate to the gateway and accepts only a gateway certificate from the CA.</summary>
    public static IClientBuilder UseQubridTls(this IClientBuilder client, IConfiguration configuration)
    {
        var options = ClusterTlsOptions.From(configuration);
        if (!options.IsEnabled) return client;
        var (certificate, ca) = Load(options);
        return client.UseTls(certificate, tls => Configure(tls, ca));
    }

    /// <summary>Mutual TLS that trusts exactly <paramref name="ca"/>.</summary>
    public static void Configure(TlsOptions tls, X509Certificate2 ca)
    {
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = (certificate, _, _) => IssuedBy(certificate, ca);
    }

    /// <summary>
    /// True when <paramref name="certificate"/> chains to <paramref name="ca"/> (and only to it), is within its validity
    /// period and may be used for TLS. Silos are reached by IP address, so the host name is not compared: membership of
    /// the cluster is having a certificate from its CA.
    /// </summary>
    public static bool IssuedBy(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        if (!chain.Build(certificate)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span);
    }

    public static (X509Certificate2 Certificate, X509Certificate2 Ca) Load(ClusterTlsOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.CertificatePath))
            throw new InvalidOperationException("Qubrid:Tls is enabled but Qubrid:Tls:CertificatePath is not set (a PEM certificate with Qubrid:Tls:KeyPath, or a .pfx).");
        if (string.IsNullOrWhiteSpace(options.CaPath))
            throw new InvalidOperationException("Qubrid:Tls:CaPath is not set: the cluster accepts only certificates issued by this CA (PEM).");
        var certificate = LoadCertificate(options.CertificatePath, options.KeyPath, options.CertificatePassword);
        var ca = X509CertificateLoader.LoadCertificateFromFile(options.CaPath);
        // Refuse at start-up what every peer would refuse later, connection by connection.
        if (!IssuedBy(certificate, ca))
            throw new InvalidOperationException(
                $"The certificate {options.CertificatePath} ({certificate.Subject}, valid {certificate.NotBefore:u} to {certificate.NotAfter:u}) " +
                $"is not a valid certificate issued by the CA {options.CaPath} ({ca.Subject}): peers would refuse it.");
        return (certificate, ca);
    }

    public static X509Certificate2 LoadCertificate(string path, string? keyPath, string? password)
    {
        X509Certificate2 certificate;
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
        }
        else
        {
            var key = string.IsNullOrWhiteSpace(keyPath) ? null : keyPath;
            var pem = string.IsNullOrEmpty(password)
                ? X509Certificate2.CreateFromPemFile(path, key)
                : X509Certificate2.CreateFromEncryptedPemFile(path, password, key);
            // An ephemeral key works for SslStream on Linux; exporting to PKCS#12 keeps it usable everywhere.
            using (pem) certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        if (!certificate.HasPrivateKey)
            throw new InvalidOperationException($"The certificate {path} has no private key (set Qubrid:Tls:KeyPath).");
        return certificate;
    }

    /// <summary>
    /// Creates a CA and one certificate it issues (server and client authentication, for every silo and the API) as
    /// PEM files in <paramref name="directory"/>: ca.crt, ca.key, node.crt, node.key. For local use; bring your own
    /// for a real deployment. Existing files are kept.
    /// </summary>
    public static bool CreateLocal(string directory, TimeSpan? validity = null)
    {
        Directory.CreateDirectory(directory);
        string caCrt = Path.Combine(directory, "ca.crt"), caKey = Path.Combine(directory, "ca.key");
        string nodeCrt = Path.Combine(directory, "node.crt"), nodeKey = Path.Combine(directory, "node.key");
        if (File.Exists(caCrt) && File.Exists(nodeCrt) && File.Exists(nodeKey)) return false;
        var lifetime = validity ?? TimeSpan.FromDays(825);
        var (ca, node) = CreatePair("Qubrid local cluster CA", "qubrid-node", lifetime);
        using (ca) using (node)
        {
            WriteSecret(caKey, ca.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(caCrt, ca.ExportCertificatePem());
            WriteSecret(nodeKey, node.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(nodeCrt, node.ExportCertificatePem());
        }
        return true;
    }

    /// <summary>A CA and a certificate it issued (both with private keys), in memory: for <see cref="CreateLocal"/> and tests.</summary>
    public static (X509Certificate2 Ca, X509Certificate2 Node) CreatePair(string caName, string nodeName, TimeSpan lifetime)
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var ca = caRequest.CreateSelfSigned(now, now + lifetime + TimeSpan.FromDays(1));

        using var nodeKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var nodeRequest = new CertificateRequest($"CN={nodeName}", nodeKey, HashAlgorithmName.SHA256);
        nodeRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        nodeRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        nodeRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(nodeName);
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        nodeRequest.CertificateExtensions.Add(san.Build());
        nodeRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(nodeRequest.PublicKey, false));
        nodeRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = nodeRequest.Create(ca, now, now + lifetime, serial);
        var node = issued.CopyWithPrivateKey(nodeKey);
        // A PKCS#12 round trip gives a key SslStream can use on every platform.
        using (node) return (ca, X509CertificateLoader.LoadPkcs12(node.Export(X509ContentType.Pkcs12), null));
    }

    private static void WriteSecret(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }
}
