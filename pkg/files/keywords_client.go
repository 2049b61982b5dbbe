package files

// clientKeywords returns every keyword ssh_config(5) accepts in OpenSSH
// 9.2p1 as built by Debian 12 (Debian-2+deb12u10), in canonical spelling.
//
// Checked against readconf.c's keyword table and against the real
// /usr/bin/ssh: every name below is recognised by `ssh -G`; enum words are
// spelled as `ssh -G` prints them (several multistate keywords print
// yes/no as true/false).
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
		{Name: "EnableEscapeCommandline", Type: TypeFlag},
		{Name: "RequestTTY", Type: TypeEnum, Enum: []string{"true", "false", "force", "auto"}, Synonyms: trueFalse},
		{Name: "SessionType", Type: TypeEnum, Enum: []string{"none", "subsystem", "default"}},
		{Name: "StdinNull", Type: TypeFlag},
		{Name: "ForkAfterAuthentication", Type: TypeFlag},
		{Name: "RemoteCommand", Type: TypeRawLine},
		{Name: "LocalCommand", Type: TypeRawLine},
		{Name: "PermitLocalCommand", Type: TypeFlag},
		{Name: "SendEnv", Type: TypePatterns, Combine: Cumulative},
		{Name: "SetEnv", Type: TypeList},
		{Name: "IgnoreUnknown", Type: TypePatterns},
		{Name: "LogLevel", Type: TypeEnum, Enum: logLevels, Synonyms: logLevelSynonyms},
		{Name: "LogVerbose", Type: TypeList},
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
		{Name: "KnownHostsCommand", Type: TypeRawLine},
		{Name: "HashKnownHosts", Type: TypeFlag},
		{Name: "NoHostAuthenticationForLocalhost", Type: TypeFlag},
		{Name: "RevokedHostKeys", Type: TypePath},
		{Name: "UpdateHostKeys", Type: TypeEnum, Enum: []string{"true", "false", "ask"}, Synonyms: trueFalse},
		{Name: "VerifyHostKeyDNS", Type: TypeEnum, Enum: []string{"true", "false", "ask"}, Synonyms: trueFalse},
		{Name: "VisualHostKey", Type: TypeFlag},
		{Name: "FingerprintHash", Type: TypeEnum, Enum: digests},

		// Algorithms.
		{Name: "Ciphers", Type: TypeAlgorithms},
		{Name: "MACs", Type: TypeAlgorithms},
		{Name: "KexAlgorithms", Type: TypeAlgorithms},
		{Name: "CASignatureAlgorithms", Type: TypeAlgorithms},
		{Name: "HostbasedAcceptedAlgorithms", Type: TypeAlgorithms},
		{Name: "PubkeyAcceptedAlgorithms", Type: TypeAlgorithms},
		{Name: "RequiredRSASize", Type: TypeInt},

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
		{Name: "IdentityFile", Type: TypePath, Combine: Cumulative},
		{Name: "CertificateFile", Type: TypePath, Combine: Cumulative},
		{Name: "IdentitiesOnly", Type: TypeFlag},
		{Name: "IdentityAgent", Type: TypeString}, // a path, SSH_AUTH_SOCK, $VAR or none
		{Name: "AddKeysToAgent", Type: TypeList},  // yes, no, ask, confirm [time], or a time
		{Name: "PKCS11Provider", Type: TypeString},
		{Name: "SecurityKeyProvider", Type: TypeString},
		{Name: "GSSAPIAuthentication", Type: TypeFlag},
		{Name: "GSSAPIDelegateCredentials", Type: TypeFlag},
		{Name: "GSSAPIKeyExchange", Type: TypeFlag},
		{Name: "GSSAPIClientIdentity", Type: TypeString},
		{Name: "GSSAPIServerIdentity", Type: TypeString},
		{Name: "GSSAPIRenewalForcesRekey", Type: TypeFlag},
		{Name: "GSSAPITrustDNS", Type: TypeFlag},
		{Name: "GSSAPIKexAlgorithms", Type: TypeAlgorithms},

		// Forwarding.
		{Name: "ForwardAgent", Type: TypeFlagOrString}, // yes/no/true/false, or a socket path or $VAR
		{Name: "ForwardX11", Type: TypeFlag},
		{Name: "ForwardX11Timeout", Type: TypeTime, None: true},
		{Name: "ForwardX11Trusted", Type: TypeFlag},
		{Name: "XAuthLocation", Type: TypePath},
		{Name: "GatewayPorts", Type: TypeFlag},
		{Name: "ExitOnForwardFailure", Type: TypeFlag},
		{Name: "ClearAllForwardings", Type: TypeFlag},
		{Name: "LocalForward", Type: TypeList, Combine: Cumulative},
		{Name: "RemoteForward", Type: TypeList, Combine: Cumulative},
		{Name: "DynamicForward", Type: TypeString, Combine: Cumulative},
		{Name: "PermitRemoteOpen", Type: TypeList},
		{Name: "StreamLocalBindMask", Type: TypeString, Combine: LastWinsAnywhere},
		{Name: "StreamLocalBindUnlink", Type: TypeFlag},
		{Name: "Tunnel", Type: TypeEnum,
			Enum:     []string{"point-to-point", "ethernet", "false"},
			Synonyms: map[string]string{"yes": "point-to-point", "true": "point-to-point", "no": "false"}},
		{Name: "TunnelDevice", Type: TypeString},

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
	}
}

// clientAliases lists the alternative spellings readconf.c's keyword table
// maps onto the opcode of a canonical keyword, including Debian's
// ProtocolKeepAlives and SetupTimeOut compatibility aliases.
var clientAliases = []alias{
	{"ChallengeResponseAuthentication", "KbdInteractiveAuthentication"},
	{"SkeyAuthentication", "KbdInteractiveAuthentication"},
	{"TISAuthentication", "KbdInteractiveAuthentication"},
	{"DSAAuthentication", "PubkeyAuthentication"},
	{"IdentityFile2", "IdentityFile"},
	{"KeepAlive", "TCPKeepAlive"},
	{"SmartcardDevice", "PKCS11Provider"},
	{"HostbasedKeyTypes", "HostbasedAcceptedAlgorithms"},
	{"PubkeyAcceptedKeyTypes", "PubkeyAcceptedAlgorithms"},
	{"ProtocolKeepAlives", "ServerAliveInterval"},
	{"SetupTimeOut", "ServerAliveInterval"},
}
