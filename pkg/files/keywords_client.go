package files

// clientSpec describes ssh_config(5) from OpenSSH 8.4 to 10.6 as Debian
// builds it (see serverSpec).
var clientSpec = dialectSpec{
	keywords: clientKeywords,
	aliases:  clientAliases,
	changes:  clientChanges,
	criteria: []criterion{
		{name: "all"}, {name: "canonical"}, {name: "final"}, {name: "exec", arg: true},
		{name: "host", arg: true}, {name: "originalhost", arg: true}, {name: "user", arg: true},
		{name: "localuser", arg: true}, {name: "localnetwork", arg: true, since: rel(9, 4)},
		{name: "tagged", arg: true, since: rel(9, 4)}, {name: "command", arg: true, since: rel(10, 0)},
		{name: "sessiontype", arg: true, since: rel(10, 0)}, {name: "version", arg: true, since: rel(10, 0)},
	},
	omitDefaults: []string{"host", "hostname", "user", "userknownhostsfile", "identityfile", "certificatefile", "serveraliveinterval"},
}

// clientKeywords returns every keyword ssh_config(5) accepts in some
// OpenSSH release from 8.4 on as built by Debian, in canonical spelling,
// described as the newest release knows it (see serverKeywords).
//
// Checked against readconf.c's keyword tables and against the real ssh of
// every recorded release: every name below is recognised by `ssh -G` of
// the releases that know it; enum words are spelled as `ssh -G` prints
// them (several multistate keywords print yes/no as true/false).
func clientKeywords() []Keyword {
	logLevels := []string{"SILENT", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG2", "DEBUG3"}
	logLevelSynonyms := map[string]string{"quiet": "SILENT", "debug1": "DEBUG"}
	facilities := []string{"DAEMON", "USER", "AUTH", "AUTHPRIV",
		"LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7"}
	digests := []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512"}
	// Multistate keywords print yes as "true" and no as "false".
	trueFalse := map[string]string{"yes": "true", "no": "false"}

	return []Keyword{
		// Blocks and inclusion.
		{Name: "Host", Type: TypeList},
		{Name: "Match", Type: TypeList},
		{Name: "Include", Type: TypeList, Combine: Cumulative},

		// Connection.
		{Name: "Hostname", Type: TypeString, FoldCase: true},
		{Name: "User", Type: TypeString},
		{Name: "Port", Type: TypeInt},
		{Name: "AddressFamily", Type: TypeEnum, Enum: []string{"any", "inet", "inet6"}},
		{Name: "BindAddress", Type: TypeString},
		{Name: "BindInterface", Type: TypeString},
		{Name: "ConnectionAttempts", Type: TypeInt},
		{Name: "ConnectTimeout", Type: TypeTime, None: true},
		{Name: "ProxyCommand", Type: TypeRawLine},
		{Name: "ProxyJump", Type: TypeString},
		{Name: "ProxyUseFdpass", Type: TypeFlag},
		{Name: "TCPKeepAlive", Type: TypeFlag},
		{Name: "ServerAliveInterval", Type: TypeTime, None: true},
		{Name: "ServerAliveCountMax", Type: TypeInt},
		{Name: "IPQoS", Type: TypeIPQoS},
		{Name: "RekeyLimit", Type: TypeList},
		{Name: "Compression", Type: TypeEnum, Enum: []string{"yes", "no"}}, // true/false are refused
		{Name: "BatchMode", Type: TypeFlag},
		{Name: "EscapeChar", Type: TypeString},
		{Name: "EnableEscapeCommandline", Type: TypeFlag, Since: rel(9, 2)},
		{Name: "RequestTTY", Type: TypeEnum, Enum: []string{"true", "false", "force", "auto"}, Synonyms: trueFalse},
		{Name: "SessionType", Type: TypeEnum, Enum: []string{"none", "subsystem", "default"}, Since: rel(8, 7)},
		{Name: "StdinNull", Type: TypeFlag, Since: rel(8, 7)},
		{Name: "ForkAfterAuthentication", Type: TypeFlag, Since: rel(8, 7)},
		{Name: "RemoteCommand", Type: TypeRawLine},
		{Name: "LocalCommand", Type: TypeRawLine},
		{Name: "PermitLocalCommand", Type: TypeFlag},
		{Name: "SendEnv", Type: TypePatterns, Combine: Cumulative},
		{Name: "SetEnv", Type: TypeList},
		{Name: "IgnoreUnknown", Type: TypePatterns},
		{Name: "LogLevel", Type: TypeEnum, Enum: logLevels, Synonyms: logLevelSynonyms},
		{Name: "LogVerbose", Type: TypeList, Since: rel(8, 5)},
		// SyslogFacility is set even by lines in blocks that do not apply
		// (readconf.c does not check activep); the first such line wins.
		{Name: "SyslogFacility", Type: TypeEnum, Enum: facilities},

		// Canonicalization.
		{Name: "CanonicalDomains", Type: TypeList},
		{Name: "CanonicalizeFallbackLocal", Type: TypeFlag},
		{Name: "CanonicalizeHostname", Type: TypeEnum, Enum: []string{"true", "false", "always"}, Synonyms: trueFalse},
		{Name: "CanonicalizeMaxDots", Type: TypeInt},
		{Name: "CanonicalizePermittedCNAMEs", Type: TypeList},

		// Host keys.
		{Name: "CheckHostIP", Type: TypeFlag},
		{Name: "StrictHostKeyChecking", Type: TypeEnum,
			Enum:     []string{"true", "false", "ask", "accept-new"},
			Synonyms: map[string]string{"yes": "true", "no": "false", "off": "false"}},
		{Name: "HostKeyAlgorithms", Type: TypeAlgorithms},
		{Name: "HostKeyAlias", Type: TypeString},
		{Name: "GlobalKnownHostsFile", Type: TypeList},
		{Name: "UserKnownHostsFile", Type: TypeList},
		{Name: "KnownHostsCommand", Type: TypeRawLine, Since: rel(8, 5)},
		{Name: "HashKnownHosts", Type: TypeFlag},
		{Name: "NoHostAuthenticationForLocalhost", Type: TypeFlag},
		{Name: "RevokedHostKeys", Type: TypeList}, // several files since 10.3
		{Name: "UpdateHostKeys", Type: TypeEnum, Enum: []string{"true", "false", "ask"}, Synonyms: trueFalse},
		{Name: "VerifyHostKeyDNS", Type: TypeEnum, Enum: []string{"true", "false", "ask"}, Synonyms: trueFalse},
		{Name: "VisualHostKey", Type: TypeFlag},
		{Name: "FingerprintHash", Type: TypeEnum, Enum: digests},

		// Algorithms.
		{Name: "Ciphers", Type: TypeAlgorithms},
		{Name: "MACs", Type: TypeAlgorithms},
		{Name: "KexAlgorithms", Type: TypeAlgorithms},
		{Name: "CASignatureAlgorithms", Type: TypeAlgorithms},
		{Name: "HostbasedAcceptedAlgorithms", Type: TypeAlgorithms, nameSince: rel(8, 7)},
		{Name: "PubkeyAcceptedAlgorithms", Type: TypeAlgorithms, nameSince: rel(8, 5)},
		{Name: "RequiredRSASize", Type: TypeInt, Since: rel(9, 1)},

		// Authentication.
		{Name: "PreferredAuthentications", Type: TypeString},
		{Name: "PasswordAuthentication", Type: TypeFlag},
		{Name: "NumberOfPasswordPrompts", Type: TypeInt},
		{Name: "KbdInteractiveAuthentication", Type: TypeFlag},
		{Name: "KbdInteractiveDevices", Type: TypeString},
		{Name: "PubkeyAuthentication", Type: TypeEnum,
			Enum: []string{"true", "false", "unbound", "host-bound"}, Synonyms: trueFalse},
		{Name: "HostbasedAuthentication", Type: TypeFlag},
		{Name: "EnableSSHKeysign", Type: TypeFlag},
		{Name: "IdentityFile", Type: TypePath, Combine: Cumulative, unique: true},
		{Name: "CertificateFile", Type: TypePath, Combine: Cumulative, unique: true},
		{Name: "IdentitiesOnly", Type: TypeFlag},
		{Name: "IdentityAgent", Type: TypeString}, // a path, SSH_AUTH_SOCK, $VAR or none
		{Name: "AddKeysToAgent", Type: TypeList},  // yes, no, ask, confirm [time], or a time
		{Name: "PKCS11Provider", Type: TypeString},
		{Name: "SecurityKeyProvider", Type: TypeString},
		{Name: "GSSAPIAuthentication", Type: TypeFlag},
		{Name: "GSSAPIDelegateCredentials", Type: TypeFlag},
		// Debian's GSSAPI key exchange patch; Debian's 10.6 ssh is built
		// without GSSAPI and knows none of them.
		{Name: "GSSAPIKeyExchange", Type: TypeFlag, Until: rel(10, 6)},
		{Name: "GSSAPIClientIdentity", Type: TypeString, Until: rel(10, 6)},
		{Name: "GSSAPIServerIdentity", Type: TypeString, Until: rel(10, 6)},
		{Name: "GSSAPIRenewalForcesRekey", Type: TypeFlag, Until: rel(10, 6)},
		{Name: "GSSAPITrustDNS", Type: TypeFlag, Until: rel(10, 6)},
		{Name: "GSSAPIKexAlgorithms", Type: TypeAlgorithms, Until: rel(10, 6)},

		// Forwarding.
		{Name: "ForwardAgent", Type: TypeFlagOrString}, // yes/no/true/false, or a socket path or $VAR
		{Name: "ForwardX11", Type: TypeFlag},
		{Name: "ForwardX11Timeout", Type: TypeTime, None: true},
		{Name: "ForwardX11Trusted", Type: TypeFlag},
		{Name: "XAuthLocation", Type: TypePath},
		{Name: "GatewayPorts", Type: TypeFlag},
		{Name: "ExitOnForwardFailure", Type: TypeFlag},
		{Name: "ClearAllForwardings", Type: TypeFlag},
		{Name: "LocalForward", Type: TypeList, Combine: Cumulative, unique: true},
		{Name: "RemoteForward", Type: TypeList, Combine: Cumulative, unique: true},
		{Name: "DynamicForward", Type: TypeString, Combine: Cumulative, unique: true},
		{Name: "PermitRemoteOpen", Type: TypeList, Since: rel(8, 5)},
		{Name: "StreamLocalBindMask", Type: TypeString, Combine: LastWinsAnywhere},
		{Name: "StreamLocalBindUnlink", Type: TypeFlag},
		{Name: "Tunnel", Type: TypeEnum,
			Enum:     []string{"point-to-point", "ethernet", "false"},
			Synonyms: map[string]string{"yes": "point-to-point", "true": "point-to-point", "no": "false"}},
		{Name: "TunnelDevice", Type: TypeString},

		// Newer releases.
		{Name: "ChannelTimeout", Type: TypeList, Since: rel(9, 6)},
		{Name: "ObscureKeystrokeTiming", Type: TypeString, Since: rel(9, 5)}, // yes, no (case-sensitive) or interval:N
		{Name: "Tag", Type: TypeString, Since: rel(9, 4)},
		// VersionAddendum is the rest of the line up to a '#'; the model
		// keeps a '#' as a raw line does.
		{Name: "VersionAddendum", Type: TypeRawLine, Since: rel(10, 0)},
		// RefuseConnection makes ssh fail with the given message wherever
		// it applies.
		{Name: "RefuseConnection", Type: TypeString, Since: rel(10, 1)},
		{Name: "WarnWeakCrypto", Type: TypeEnum, Enum: []string{"yes", "no"},
			Synonyms: map[string]string{"true": "yes", "false": "no", "no-pq-kex": "no"}, Since: rel(10, 1)},

		// Multiplexing.
		{Name: "ControlMaster", Type: TypeEnum,
			Enum: []string{"true", "false", "auto", "ask", "autoask"}, Synonyms: trueFalse},
		{Name: "ControlPath", Type: TypePath},
		{Name: "ControlPersist", Type: TypeString}, // yes/no/true/false (case-sensitive) or a time

		// Recognised but not supported by this build.
		{Name: "AFSTokenPassing", Type: TypeFlag, Status: Unsupported},
		{Name: "KerberosAuthentication", Type: TypeFlag, Status: Unsupported},
		{Name: "KerberosTGTPassing", Type: TypeFlag, Status: Unsupported},
		{Name: "RSAAuthentication", Type: TypeFlag, Status: Unsupported},
		{Name: "RhostsRSAAuthentication", Type: TypeFlag, Status: Unsupported},
		{Name: "CompressionLevel", Type: TypeInt, Status: Unsupported},

		// Deprecated: accepted and ignored (logged at debug level). Protocol
		// is ignored silently.
		{Name: "Protocol", Type: TypeString, Status: Deprecated},
		{Name: "Cipher", Type: TypeString, Status: Deprecated},
		{Name: "FallBackToRsh", Type: TypeFlag, Status: Deprecated},
		{Name: "GlobalKnownHostsFile2", Type: TypePath, Status: Deprecated},
		{Name: "RhostsAuthentication", Type: TypeFlag, Status: Deprecated},
		{Name: "UseBlacklistedKeys", Type: TypeFlag, Status: Deprecated},
		{Name: "UserKnownHostsFile2", Type: TypePath, Status: Deprecated},
		{Name: "UseRoaming", Type: TypeFlag, Status: Deprecated},
		{Name: "UseRsh", Type: TypeFlag, Status: Deprecated},
		{Name: "UsePrivilegedPort", Type: TypeFlag, Status: Deprecated},

		// Before 8.7: ChallengeResponseAuthentication was a keyword of
		// its own (TISAuthentication its alias), SkeyAuthentication an
		// unsupported one; 8.7 made all three aliases of
		// KbdInteractiveAuthentication.
		{Name: "ChallengeResponseAuthentication", Type: TypeFlag, Until: rel(8, 7)},
		{Name: "SkeyAuthentication", Type: TypeFlag, Status: Unsupported, Until: rel(8, 7)},
	}
}

// clientAliases lists the alternative spellings readconf.c's keyword table
// maps onto the opcode of a canonical keyword, including Debian's
// ProtocolKeepAlives and SetupTimeOut compatibility aliases (SetupTimeOut
// is ConnectTimeout from Debian's 10.0 on), with the releases that know
// them. Before 8.5 (HostbasedAcceptedAlgorithms: 8.7),
// PubkeyAcceptedKeyTypes and HostbasedKeyTypes were the canonical names.
var clientAliases = []alias{
	{name: "ChallengeResponseAuthentication", canonical: "KbdInteractiveAuthentication", since: rel(8, 7)},
	{name: "SkeyAuthentication", canonical: "KbdInteractiveAuthentication", since: rel(8, 7)},
	{name: "TISAuthentication", canonical: "KbdInteractiveAuthentication", since: rel(8, 7)},
	{name: "TISAuthentication", canonical: "ChallengeResponseAuthentication", until: rel(8, 7)},
	{name: "DSAAuthentication", canonical: "PubkeyAuthentication"},
	{name: "IdentityFile2", canonical: "IdentityFile"},
	{name: "KeepAlive", canonical: "TCPKeepAlive"},
	{name: "SmartcardDevice", canonical: "PKCS11Provider"},
	{name: "HostbasedKeyTypes", canonical: "HostbasedAcceptedAlgorithms"},
	{name: "HostbasedAlgorithms", canonical: "HostbasedAcceptedAlgorithms", since: rel(8, 5), until: rel(8, 7)},
	{name: "PubkeyAcceptedKeyTypes", canonical: "PubkeyAcceptedAlgorithms"},
	{name: "ProtocolKeepAlives", canonical: "ServerAliveInterval"},
	{name: "SetupTimeOut", canonical: "ServerAliveInterval", until: rel(10, 0)},
	{name: "SetupTimeOut", canonical: "ConnectTimeout", since: rel(10, 0)}, // Debian's 10.0 on
}

// clientChanges are the ways older releases' ssh differs from the
// definitions in clientKeywords (each applies to releases older than
// before).
var clientChanges = []versionChange{
	// 8.9 made PubkeyAuthentication a multistate (unbound, host-bound).
	{keyword: "PubkeyAuthentication", before: rel(8, 9), apply: func(k *Keyword) {
		k.Type, k.Enum, k.Synonyms = TypeFlag, nil, nil
	}},
	// Before 8.7 every IPQoS line overwrote the value.
	{keyword: "IPQoS", before: rel(8, 7), apply: func(k *Keyword) { k.Combine = LastWins }},
	{keyword: "RevokedHostKeys", before: rel(10, 3), apply: func(k *Keyword) { k.Type = TypePath }},
	// IPQoS values: see ipqosRules.
	{keyword: "IPQoS", before: rel(10, 3), apply: func(k *Keyword) { k.ipqos.noVA = true }},
	{keyword: "IPQoS", before: rel(10, 0), apply: func(k *Keyword) { k.ipqos.tos = true }},
	{keyword: "IPQoS", before: rel(9, 8), apply: func(k *Keyword) { k.ipqos.cNumbers = true }},
	{keyword: "IPQoS", before: rel(8, 9), apply: func(k *Keyword) { k.ipqos.le01 = true }},
}
