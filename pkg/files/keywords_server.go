package files

// serverKeywords returns every keyword sshd_config(5) accepts in OpenSSH
// 9.2p1 as built by Debian 12 (Debian-2+deb12u10), in canonical spelling.
//
// Checked against servconf.c's keyword table and against the real
// /usr/sbin/sshd: every name below is recognised by `sshd -t`; InMatch is
// exactly the keywords flagged SSHCFG_ALL (sshd refuses the others inside a
// Match block that is not "Match all"); enum words are spelled as `sshd -T`
// prints them.
func serverKeywords() []Keyword {
	logLevels := []string{"SILENT", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG2", "DEBUG3"}
	logLevelSynonyms := map[string]string{"quiet": "SILENT", "debug1": "DEBUG"}
	facilities := []string{"DAEMON", "USER", "AUTH", "AUTHPRIV",
		"LOCAL0", "LOCAL1", "LOCAL2", "LOCAL3", "LOCAL4", "LOCAL5", "LOCAL6", "LOCAL7"}
	forwarding := []string{"yes", "no", "local", "remote"}
	forwardingSynonyms := map[string]string{"all": "yes"}
	digests := []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512"}

	return []Keyword{
		// Blocks and inclusion.
		{Name: "Include", Type: TypeList, Combine: Cumulative, InMatch: true},
		{Name: "Match", Type: TypeList, InMatch: true},

		// Listening and the daemon itself (global only).
		{Name: "Port", Type: TypeInt, Combine: Cumulative},
		{Name: "ListenAddress", Type: TypeList, Combine: Cumulative},
		{Name: "AddressFamily", Type: TypeEnum, Enum: []string{"any", "inet", "inet6"}},
		{Name: "HostKey", Type: TypePath, Combine: Cumulative},
		{Name: "HostCertificate", Type: TypePath, Combine: Cumulative},
		{Name: "HostKeyAgent", Type: TypePath},
		{Name: "HostKeyAlgorithms", Type: TypeAlgorithms},
		{Name: "PidFile", Type: TypePath},
		{Name: "ModuliFile", Type: TypePath},
		{Name: "LoginGraceTime", Type: TypeTime},
		{Name: "MaxStartups", Type: TypeString, Combine: LastWins},
		{Name: "PerSourceMaxStartups", Type: TypeInt, None: true, Combine: LastWins},
		{Name: "PerSourceNetBlockSize", Type: TypeString, Combine: LastWins},
		{Name: "SyslogFacility", Type: TypeEnum, Enum: facilities},
		{Name: "Ciphers", Type: TypeAlgorithms},
		{Name: "MACs", Type: TypeAlgorithms},
		{Name: "KexAlgorithms", Type: TypeAlgorithms},
		{Name: "Compression", Type: TypeEnum, Enum: []string{"yes", "no"}, Synonyms: map[string]string{"delayed": "yes"}},
		{Name: "TCPKeepAlive", Type: TypeFlag},
		{Name: "UseDNS", Type: TypeFlag},
		{Name: "UsePAM", Type: TypeFlag},
		{Name: "PrintMotd", Type: TypeFlag},
		{Name: "PrintLastLog", Type: TypeFlag},
		{Name: "StrictModes", Type: TypeFlag},
		{Name: "IgnoreUserKnownHosts", Type: TypeFlag},
		{Name: "PermitUserEnvironment", Type: TypeString}, // yes, no (case-sensitive) or a pattern list
		{Name: "XAuthLocation", Type: TypePath},
		{Name: "Subsystem", Type: TypeList, Combine: Cumulative},
		{Name: "FingerprintHash", Type: TypeEnum, Enum: digests, Combine: LastWins},
		{Name: "SecurityKeyProvider", Type: TypeString}, // "internal" or a path
		{Name: "VersionAddendum", Type: TypeRawLine},
		{Name: "DebianBanner", Type: TypeFlag},
		{Name: "KerberosOrLocalPasswd", Type: TypeFlag},
		{Name: "KerberosTicketCleanup", Type: TypeFlag},
		{Name: "GSSAPICleanupCredentials", Type: TypeFlag},
		{Name: "GSSAPIStrictAcceptorCheck", Type: TypeFlag},
		{Name: "GSSAPIKeyExchange", Type: TypeFlag},
		{Name: "GSSAPIStoreCredentialsOnRekey", Type: TypeFlag},
		{Name: "GSSAPIKexAlgorithms", Type: TypeAlgorithms},

		// Allowed inside Match blocks.
		{Name: "AcceptEnv", Type: TypePatterns, Combine: Cumulative, InMatch: true},
		{Name: "AllowAgentForwarding", Type: TypeFlag, InMatch: true},
		{Name: "AllowGroups", Type: TypePatterns, Combine: Cumulative, InMatch: true},
		{Name: "AllowStreamLocalForwarding", Type: TypeEnum, Enum: forwarding, Synonyms: forwardingSynonyms, InMatch: true},
		{Name: "AllowTcpForwarding", Type: TypeEnum, Enum: forwarding, Synonyms: forwardingSynonyms, InMatch: true},
		{Name: "AllowUsers", Type: TypePatterns, Combine: Cumulative, InMatch: true},
		{Name: "AuthenticationMethods", Type: TypeList, InMatch: true},
		{Name: "AuthorizedKeysCommand", Type: TypeRawLine, InMatch: true},
		{Name: "AuthorizedKeysCommandUser", Type: TypeString, InMatch: true},
		{Name: "AuthorizedKeysFile", Type: TypeList, InMatch: true},
		{Name: "AuthorizedPrincipalsCommand", Type: TypeRawLine, InMatch: true},
		{Name: "AuthorizedPrincipalsCommandUser", Type: TypeString, InMatch: true},
		{Name: "AuthorizedPrincipalsFile", Type: TypePath, InMatch: true},
		{Name: "Banner", Type: TypePath, InMatch: true},
		{Name: "CASignatureAlgorithms", Type: TypeAlgorithms, InMatch: true},
		{Name: "ChannelTimeout", Type: TypeList, InMatch: true},
		{Name: "ChrootDirectory", Type: TypePath, InMatch: true},
		{Name: "ClientAliveCountMax", Type: TypeInt, InMatch: true},
		{Name: "ClientAliveInterval", Type: TypeTime, InMatch: true},
		{Name: "DenyGroups", Type: TypePatterns, Combine: Cumulative, InMatch: true},
		{Name: "DenyUsers", Type: TypePatterns, Combine: Cumulative, InMatch: true},
		{Name: "DisableForwarding", Type: TypeFlag, InMatch: true},
		{Name: "ExposeAuthInfo", Type: TypeFlag, InMatch: true},
		{Name: "ForceCommand", Type: TypeRawLine, InMatch: true},
		{Name: "GatewayPorts", Type: TypeEnum, Enum: []string{"yes", "no", "clientspecified"}, InMatch: true},
		{Name: "GSSAPIAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "HostbasedAcceptedAlgorithms", Type: TypeAlgorithms, InMatch: true},
		{Name: "HostbasedAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "HostbasedUsesNameFromPacketOnly", Type: TypeFlag, InMatch: true},
		{Name: "IgnoreRhosts", Type: TypeEnum, Enum: []string{"yes", "no", "shosts-only"}, InMatch: true},
		{Name: "IPQoS", Type: TypeIPQoS, Combine: LastWins, InMatch: true},
		{Name: "KbdInteractiveAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "KerberosAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "LogLevel", Type: TypeEnum, Enum: logLevels, Synonyms: logLevelSynonyms, InMatch: true},
		{Name: "LogVerbose", Type: TypeList, InMatch: true},
		{Name: "MaxAuthTries", Type: TypeInt, InMatch: true},
		{Name: "MaxSessions", Type: TypeInt, InMatch: true},
		{Name: "PasswordAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "PermitEmptyPasswords", Type: TypeFlag, InMatch: true},
		{Name: "PermitListen", Type: TypeList, InMatch: true},
		{Name: "PermitOpen", Type: TypeList, InMatch: true},
		{Name: "PermitRootLogin", Type: TypeEnum,
			Enum:     []string{"yes", "without-password", "forced-commands-only", "no"},
			Synonyms: map[string]string{"prohibit-password": "without-password"}, InMatch: true},
		{Name: "PermitTTY", Type: TypeFlag, InMatch: true},
		// PermitTunnel's words are matched case-sensitively by sshd.
		{Name: "PermitTunnel", Type: TypeEnum, Enum: []string{"yes", "no", "point-to-point", "ethernet"}, ExactCase: true, InMatch: true},
		{Name: "PermitUserRC", Type: TypeFlag, InMatch: true},
		{Name: "PubkeyAcceptedAlgorithms", Type: TypeAlgorithms, InMatch: true},
		{Name: "PubkeyAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "PubkeyAuthOptions", Type: TypeList, InMatch: true}, // none, touch-required, verify-required
		{Name: "RekeyLimit", Type: TypeList, InMatch: true},
		{Name: "RequiredRSASize", Type: TypeInt, InMatch: true},
		{Name: "RevokedKeys", Type: TypePath, InMatch: true},
		{Name: "SetEnv", Type: TypeList, InMatch: true},
		{Name: "StreamLocalBindMask", Type: TypeString, Combine: LastWins, InMatch: true},
		{Name: "StreamLocalBindUnlink", Type: TypeFlag, InMatch: true},
		{Name: "TrustedUserCAKeys", Type: TypePath, InMatch: true},
		{Name: "UnusedConnectionTimeout", Type: TypeTime, None: true, InMatch: true},
		{Name: "X11DisplayOffset", Type: TypeInt, InMatch: true},
		{Name: "X11Forwarding", Type: TypeFlag, InMatch: true},
		{Name: "X11UseLocalhost", Type: TypeFlag, InMatch: true},

		// Recognised but compiled out of Debian's build. RDomain is special:
		// it is recognised, but any use is fatal ("setting RDomain not
		// supported on this platform").
		{Name: "RDomain", Type: TypeString, InMatch: true, Status: Unsupported},
		{Name: "KerberosGetAFSToken", Type: TypeFlag, Status: Unsupported},
		{Name: "KerberosTgtPassing", Type: TypeFlag, Status: Unsupported},
		{Name: "AFSTokenPassing", Type: TypeFlag, Status: Unsupported},
		{Name: "GSSUseSessionCCache", Type: TypeFlag, Status: Unsupported},
		{Name: "GSSAPIUseSessionCredCache", Type: TypeFlag, Status: Unsupported},

		// Deprecated: accepted and ignored with a message. Protocol is
		// ignored silently (sIgnore).
		{Name: "Protocol", Type: TypeString, Status: Deprecated},
		{Name: "PAMAuthenticationViaKbdInt", Type: TypeFlag, Status: Deprecated},
		{Name: "ServerKeyBits", Type: TypeInt, Status: Deprecated},
		{Name: "KeyRegenerationInterval", Type: TypeTime, Status: Deprecated},
		{Name: "RhostsAuthentication", Type: TypeFlag, Status: Deprecated},
		{Name: "RhostsRSAAuthentication", Type: TypeFlag, InMatch: true, Status: Deprecated},
		{Name: "RSAAuthentication", Type: TypeFlag, InMatch: true, Status: Deprecated},
		{Name: "CheckMail", Type: TypeFlag, Status: Deprecated},
		{Name: "PermitBlacklistedKeys", Type: TypeFlag, Status: Deprecated},
		{Name: "UseLogin", Type: TypeFlag, Status: Deprecated},
		{Name: "VerifyReverseMapping", Type: TypeFlag, Status: Deprecated},
		{Name: "ReverseMappingCheck", Type: TypeFlag, Status: Deprecated},
		{Name: "AuthorizedKeysFile2", Type: TypeList, InMatch: true, Status: Deprecated},
		{Name: "UsePrivilegeSeparation", Type: TypeString, Status: Deprecated},
	}
}

// serverAliases lists the alternative spellings servconf.c's keyword table
// maps onto the opcode of a canonical keyword. (sshd allows DSAAuthentication
// only outside Match blocks although PubkeyAuthentication is allowed inside;
// the catalogue cannot express that difference.)
var serverAliases = []alias{
	{"HostDSAKey", "HostKey"},
	{"HostbasedAcceptedKeyTypes", "HostbasedAcceptedAlgorithms"},
	{"PubkeyAcceptedKeyTypes", "PubkeyAcceptedAlgorithms"},
	{"DSAAuthentication", "PubkeyAuthentication"},
	{"ChallengeResponseAuthentication", "KbdInteractiveAuthentication"},
	{"SkeyAuthentication", "KbdInteractiveAuthentication"},
	{"KeepAlive", "TCPKeepAlive"},
	{"GSSAPICleanupCreds", "GSSAPICleanupCredentials"},
}
