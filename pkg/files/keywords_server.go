package files

// serverSpec describes sshd_config(5) from OpenSSH 8.4 to 10.6 as Debian
// builds it; catalogue.go makes each release's catalogue from it and from
// the recorded facts of the real binaries.
var serverSpec = dialectSpec{
	keywords: serverKeywords,
	aliases:  serverAliases,
	changes:  serverChanges,
	criteria: []criterion{
		{name: "all"}, {name: "user", arg: true}, {name: "group", arg: true}, {name: "host", arg: true},
		{name: "address", arg: true}, {name: "localaddress", arg: true}, {name: "localport", arg: true},
		{name: "rdomain", arg: true}, {name: "invalid-user", since: rel(9, 9)}, {name: "version", arg: true, since: rel(10, 0)},
	},
	omitDefaults: []string{"listenaddress", "hostkey", "hostcertificate"},
	vendor: []vendorKeyword{
		{"GSSAPIEnablek5users", "Red Hat"},
		{"KerberosUseKuserok", "Red Hat"},
	},
}

// serverKeywords returns every keyword sshd_config(5) accepts in some
// OpenSSH release from 8.4 on as built by Debian, in canonical spelling,
// described as the newest release knows it: Since and Until bound the
// releases that know a keyword, serverChanges says how older releases
// differed.
//
// Checked against servconf.c's keyword tables of every release and against
// the real sshd of 8.4p1, 9.2p1, 10.0p2, 10.3p1 and 10.6p1
// (TestCatalogueAgainstFacts, TestKeywordsAgainstOpenSSH): every name is
// recognised by `sshd -t` of the releases that know it; InMatch (from the
// facts) is exactly the keywords flagged SSHCFG_ALL (sshd refuses the
// others inside a Match block that is not "Match all"); enum words are
// spelled as `sshd -T` prints them.
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
		{Name: "ModuliFile", Type: TypePath, Since: rel(8, 6)},
		{Name: "LoginGraceTime", Type: TypeTime},
		{Name: "MaxStartups", Type: TypeString},                                     // LastWins before 10.1
		{Name: "PerSourceMaxStartups", Type: TypeInt, None: true, Since: rel(8, 5)}, // LastWins before 9.5
		{Name: "PerSourceNetBlockSize", Type: TypeString, Since: rel(8, 5)},         // LastWins before 10.1
		{Name: "PerSourcePenalties", Type: TypeList, Since: rel(9, 8)},
		{Name: "PerSourcePenaltyExemptList", Type: TypeString, Since: rel(9, 8)},
		{Name: "SshdSessionPath", Type: TypePath, Since: rel(9, 8)},
		{Name: "SshdAuthPath", Type: TypePath, Since: rel(10, 0)},
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
		// Allowed in Match since 9.5. (A second line for a name is fatal
		// before 9.5 and ignored after; the model takes every line.)
		{Name: "Subsystem", Type: TypeList, Combine: Cumulative, matchSince: rel(9, 5)},
		{Name: "FingerprintHash", Type: TypeEnum, Enum: digests, Combine: LastWins},
		{Name: "SecurityKeyProvider", Type: TypeString}, // "internal" or a path
		{Name: "VersionAddendum", Type: TypeRawLine},
		{Name: "DebianBanner", Type: TypeFlag},
		{Name: "KerberosOrLocalPasswd", Type: TypeFlag},
		{Name: "KerberosTicketCleanup", Type: TypeFlag},
		{Name: "GSSAPICleanupCredentials", Type: TypeFlag},
		{Name: "GSSAPIStrictAcceptorCheck", Type: TypeFlag},
		{Name: "GSSAPIDelegateCredentials", Type: TypeFlag, Since: rel(10, 3)},
		// Debian's GSSAPI key exchange patch; Debian's 10.6 sshd is built
		// without GSSAPI and knows none of them.
		{Name: "GSSAPIKeyExchange", Type: TypeFlag, Until: rel(10, 6)},
		{Name: "GSSAPIStoreCredentialsOnRekey", Type: TypeFlag, Until: rel(10, 6)},
		{Name: "GSSAPIKexAlgorithms", Type: TypeAlgorithms, Until: rel(10, 6)},
		{Name: "WarnWeakCrypto", Type: TypeEnum, Enum: []string{"yes", "no"}, Synonyms: map[string]string{"no-pq-kex": "no"}, Since: rel(10, 6)},

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
		{Name: "AgentSocketPath", Type: TypeString, InMatch: true, Since: rel(10, 6)},
		{Name: "CASignatureAlgorithms", Type: TypeAlgorithms, InMatch: true},
		{Name: "ChannelTimeout", Type: TypeList, InMatch: true, Since: rel(9, 2)},
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
		{Name: "HostbasedAcceptedAlgorithms", Type: TypeAlgorithms, InMatch: true, nameSince: rel(8, 5)},
		{Name: "HostbasedAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "HostbasedUsesNameFromPacketOnly", Type: TypeFlag, InMatch: true},
		{Name: "IgnoreRhosts", Type: TypeEnum, Enum: []string{"yes", "no", "shosts-only"}, InMatch: true},
		{Name: "IPQoS", Type: TypeIPQoS, InMatch: true}, // LastWins before 10.3
		{Name: "KbdInteractiveAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "KerberosAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "LogLevel", Type: TypeEnum, Enum: logLevels, Synonyms: logLevelSynonyms, InMatch: true},
		{Name: "LogVerbose", Type: TypeList, InMatch: true, Since: rel(8, 5)},
		{Name: "MaxAuthTries", Type: TypeInt, InMatch: true},
		{Name: "MaxSessions", Type: TypeInt, InMatch: true},
		{Name: "PasswordAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "PermitEmptyPasswords", Type: TypeFlag, InMatch: true},
		{Name: "PermitListen", Type: TypeList, InMatch: true},
		{Name: "PermitOpen", Type: TypeList, InMatch: true},
		{Name: "PAMServiceName", Type: TypeString, InMatch: true, Since: rel(9, 8)},
		{Name: "PermitRootLogin", Type: TypeEnum,
			Enum:     []string{"yes", "prohibit-password", "forced-commands-only", "no"},
			Synonyms: map[string]string{"without-password": "prohibit-password"}, InMatch: true},
		{Name: "PermitTTY", Type: TypeFlag, InMatch: true},
		// PermitTunnel's words are matched case-sensitively by sshd.
		{Name: "PermitTunnel", Type: TypeEnum, Enum: []string{"yes", "no", "point-to-point", "ethernet"}, ExactCase: true, InMatch: true},
		{Name: "PermitUserRC", Type: TypeFlag, InMatch: true},
		{Name: "PubkeyAcceptedAlgorithms", Type: TypeAlgorithms, InMatch: true, nameSince: rel(8, 5)},
		{Name: "PubkeyAuthentication", Type: TypeFlag, InMatch: true},
		{Name: "PubkeyAuthOptions", Type: TypeList, InMatch: true}, // none, touch-required, verify-required
		{Name: "RefuseConnection", Type: TypeFlag, InMatch: true, Since: rel(9, 9)},
		{Name: "RekeyLimit", Type: TypeList, InMatch: true},
		{Name: "RequiredRSASize", Type: TypeInt, InMatch: true, Since: rel(9, 1)},
		{Name: "RevokedKeys", Type: TypeList, InMatch: true}, // several files since 10.3
		{Name: "SetEnv", Type: TypeList, InMatch: true},
		{Name: "StreamLocalBindMask", Type: TypeString, Combine: LastWins, InMatch: true},
		{Name: "StreamLocalBindUnlink", Type: TypeFlag, InMatch: true},
		{Name: "TrustedUserCAKeys", Type: TypePath, InMatch: true},
		// "none" (any case) overrides an earlier value, and 0 prints as none.
		{Name: "UnusedConnectionTimeout", Type: TypeTime, None: true, InMatch: true, Since: rel(9, 2), noneResets: true},
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
		{Name: "GSSUseSessionCCache", Type: TypeFlag, Status: Unsupported, Until: rel(10, 6)},
		{Name: "GSSAPIUseSessionCredCache", Type: TypeFlag, Status: Unsupported, Until: rel(10, 6)},

		// Deprecated: accepted and ignored with a message. Protocol is
		// ignored silently (sIgnore).
		{Name: "Protocol", Type: TypeString, Status: Deprecated},
		{Name: "PAMAuthenticationViaKbdInt", Type: TypeFlag, Status: Deprecated, Until: rel(10, 4)},
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

		// Before 8.7: ChallengeResponseAuthentication was a keyword of
		// its own (global only), SkeyAuthentication a deprecated one; 8.7
		// made both aliases of KbdInteractiveAuthentication.
		{Name: "ChallengeResponseAuthentication", Type: TypeFlag, Until: rel(8, 7)},
		{Name: "SkeyAuthentication", Type: TypeFlag, Status: Deprecated, Until: rel(8, 7)},
	}
}

// serverAliases lists the alternative spellings servconf.c's keyword table
// maps onto the opcode of a canonical keyword, with the releases that know
// them. (sshd allows DSAAuthentication only outside Match blocks although
// PubkeyAuthentication is allowed inside; the catalogue cannot express
// that difference.) Before 8.5, PubkeyAcceptedKeyTypes and
// HostbasedAcceptedKeyTypes were the canonical names (nameSince).
var serverAliases = []alias{
	{name: "HostDSAKey", canonical: "HostKey"},
	{name: "HostbasedAcceptedKeyTypes", canonical: "HostbasedAcceptedAlgorithms"},
	{name: "PubkeyAcceptedKeyTypes", canonical: "PubkeyAcceptedAlgorithms"},
	{name: "DSAAuthentication", canonical: "PubkeyAuthentication"},
	{name: "ChallengeResponseAuthentication", canonical: "KbdInteractiveAuthentication", since: rel(8, 7)},
	{name: "SkeyAuthentication", canonical: "KbdInteractiveAuthentication", since: rel(8, 7)},
	{name: "KeepAlive", canonical: "TCPKeepAlive"},
	{name: "GSSAPICleanupCreds", canonical: "GSSAPICleanupCredentials", until: rel(10, 4)},
}

// serverChanges are the ways older releases' sshd differs from the
// definitions in serverKeywords (each applies to releases older than
// before).
var serverChanges = []versionChange{
	// First-match-wins came late for some keywords; before, every line
	// overwrote the value.
	{keyword: "PerSourceMaxStartups", before: rel(9, 5), apply: func(k *Keyword) { k.Combine = LastWins }},
	{keyword: "MaxStartups", before: rel(10, 1), apply: func(k *Keyword) { k.Combine = LastWins }},
	{keyword: "PerSourceNetBlockSize", before: rel(10, 1), apply: func(k *Keyword) { k.Combine = LastWins }},
	{keyword: "IPQoS", before: rel(10, 3), apply: func(k *Keyword) { k.Combine = LastWins }},
	// 10.1 prints PermitRootLogin's prohibit-password by its new name.
	{keyword: "PermitRootLogin", before: rel(10, 1), apply: func(k *Keyword) {
		k.Enum = []string{"yes", "without-password", "forced-commands-only", "no"}
		k.Synonyms = map[string]string{"prohibit-password": "without-password"}
	}},
	{keyword: "RevokedKeys", before: rel(10, 3), apply: func(k *Keyword) { k.Type = TypePath }},
	// IPQoS values: see ipqosRules.
	{keyword: "IPQoS", before: rel(10, 3), apply: func(k *Keyword) { k.ipqos.noVA = true }},
	{keyword: "IPQoS", before: rel(10, 0), apply: func(k *Keyword) { k.ipqos.tos = true }},
	{keyword: "IPQoS", before: rel(9, 8), apply: func(k *Keyword) { k.ipqos.cNumbers = true }},
	{keyword: "IPQoS", before: rel(8, 9), apply: func(k *Keyword) { k.ipqos.le01 = true }},
}
