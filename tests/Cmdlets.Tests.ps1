#Requires -Version 7.4
# Unit tests of the cmdlets against a mocked native gateway (Invoke-MigNative) or a mocked raw
# transport (Invoke-MigNativeCall): arguments sent, -WhatIf, confirmation, refused parameters,
# error records, Status and Identity idioms, pipeline binding, secrets.

BeforeAll {
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    Get-Module ImapMigration | Remove-Module -Force
    Import-Module (Join-Path $RepoRoot 'ImapMigration.psd1') -Force

    $dateKind = if ((Get-Command ConvertFrom-Json).Parameters.ContainsKey('DateKind')) { @{ DateKind = 'String' } } else { @{} }
    function Read-NativeFixture([string]$Name) {
        Get-Content (Join-Path $PSScriptRoot "fixtures/native/$Name.json") -Raw | ConvertFrom-Json @dateKind
    }
    $user2 = Read-NativeFixture user
    $user2.Identity = [pscustomobject]@{ Id = 'bob@contoso.com'; JobItemGuid = '1a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }
    $user2.EmailAddress = 'bob@contoso.com'
    $user2.Status = 'Failed'
    $global:MigFx = @{
        batch    = Read-NativeFixture batch
        endpoint = Read-NativeFixture endpoint
        user     = Read-NativeFixture user
        user2    = $user2
        stats    = Read-NativeFixture user-statistics
        system   = Read-NativeFixture statistics
        config   = Read-NativeFixture config
        test     = Read-NativeFixture test-result
    }
    $global:MigCalls = [System.Collections.Generic.List[object]]::new()

    # The default fake engine: records every call and answers with the fixture shapes of docs/design.md.
    $script:FakeNative = {
        $global:MigCalls.Add([pscustomobject]@{ Operation = $Operation; Arguments = $Arguments; NonTerminating = [bool]$NonTerminating })
        switch ($Operation) {
            'batch.get' { , @($global:MigFx.batch) }
            'batch.new' { $global:MigFx.batch }
            'batch.set' { $global:MigFx.batch }
            'endpoint.get' { , @($global:MigFx.endpoint) }
            'endpoint.new' { $global:MigFx.endpoint }
            'endpoint.set' { $global:MigFx.endpoint }
            'endpoint.test' { $global:MigFx.test }
            'user.get' { , @($global:MigFx.user, $global:MigFx.user2) }
            'user.statistics' {
                $s = $global:MigFx.stats.PSObject.Copy()
                $s.Identity = [pscustomobject]@{ Id = $Arguments.identity; JobItemGuid = [guid]::NewGuid().ToString() }
                $s
            }
            { $_ -in 'user.set', 'user.start', 'user.stop' } { $global:MigFx.user }
            'worker.ensure' { [pscustomobject]@{ Running = $true; Pid = 4242; Started = $false } }
            'statistics.get' { $global:MigFx.system }
            'config.get' { $global:MigFx.config }
            'console.open' { [pscustomobject]@{ Url = 'http://127.0.0.1:8440/login?token=abc'; Address = '127.0.0.1:8440'; Tls = $false; ExpiresAt = '2026-12-03T18:00:00Z' } }
            default { $null }
        }
    }
    function script:LastCall { $global:MigCalls[$global:MigCalls.Count - 1] }
}

AfterAll {
    Remove-Variable -Name MigFx, MigCalls -Scope Global -ErrorAction SilentlyContinue
}

Describe 'Native gateway' {
    BeforeEach {
        $global:MigRequests = [System.Collections.Generic.List[string]]::new()
        $global:MigResponse = '{"ok":true,"result":null}'
        Mock -ModuleName ImapMigration Invoke-MigNativeCall { $global:MigRequests.Add($RequestJson); $global:MigResponse }
    }
    AfterEach {
        InModuleScope ImapMigration { $script:StateHome = $null }
    }

    It 'serialises the operation and camelCase arguments and returns the result' {
        $global:MigResponse = '{"ok":true,"result":{"AbiVersion":1,"Version":"0.1.0","Home":"/h"}}'
        $r = InModuleScope ImapMigration { Invoke-MigNative -Operation 'system.version' -Arguments @{ x = @('a') } }
        $r.Version | Should -Be '0.1.0'
        $req = $global:MigRequests[0] | ConvertFrom-Json -AsHashtable
        $req.op | Should -Be 'system.version'
        $req.x | Should -Be @('a')
        $req.ContainsKey('home') | Should -BeFalse
        $req.ContainsKey('workerPath') | Should -BeFalse
    }

    It 'adds home when the state home is set (ExchangeShim profiles)' {
        InModuleScope ImapMigration { $script:StateHome = '/tmp/profiles/contoso' }
        InModuleScope ImapMigration { $null = Invoke-MigNative -Operation 'batch.get' }
        ($global:MigRequests[0] | ConvertFrom-Json -AsHashtable).home | Should -Be '/tmp/profiles/contoso'
    }

    # Operations that read or change batches or users carry it too: the library starts a worker
    # when a batch needs one and the last worker is gone.
    It 'adds workerPath beside the library for <_>' -ForEach @(
        'batch.new', 'batch.get', 'batch.set', 'batch.start', 'batch.stop', 'batch.complete', 'batch.remove',
        'user.get', 'user.statistics', 'user.set', 'user.start', 'user.stop', 'user.remove', 'statistics.get', 'worker.ensure'
    ) {
        $env:IMAPMIGRATION_NATIVE_DIR = '/opt/imapmigration/native'
        try {
            InModuleScope ImapMigration -Parameters @{ Op = $_ } { param($Op) $null = Invoke-MigNative -Operation $Op }
        }
        finally { Remove-Item Env:IMAPMIGRATION_NATIVE_DIR }
        ($global:MigRequests[0] | ConvertFrom-Json -AsHashtable).workerPath | Should -Be '/opt/imapmigration/native/imapmigration'
    }

    It 'does not add workerPath to <_>, which touches no batch' -ForEach @('endpoint.get', 'config.get', 'system.version', 'worker.status') {
        InModuleScope ImapMigration -Parameters @{ Op = $_ } { param($Op) $null = Invoke-MigNative -Operation $Op }
        ($global:MigRequests[0] | ConvertFrom-Json -AsHashtable).ContainsKey('workerPath') | Should -BeFalse
    }

    It 'writes the warnings of a response as warnings of the cmdlet, with or without an error' {
        $global:MigResponse = '{"ok":true,"result":[],"warnings":["no worker was running; started one (pid 7)","second"]}'
        $null = Get-MigrationBatch -WarningVariable w -WarningAction SilentlyContinue
        @($w | ForEach-Object { "$_" }) | Should -Be @('no worker was running; started one (pid 7)', 'second')
        $global:MigResponse = '{"ok":false,"error":{"code":"InvalidState","message":"refused"},"warnings":["started one"]}'
        $thrown = $null
        try { Start-MigrationBatch -Identity b -WarningVariable w2 -WarningAction SilentlyContinue -ErrorAction Stop }
        catch { $thrown = $_ }
        $thrown.FullyQualifiedErrorId | Should -Be 'InvalidState,Start-MigrationBatch'
        @($w2 | ForEach-Object { "$_" }) | Should -Be @('started one')
    }

    It 'locates the library by runtime identifier, or IMAPMIGRATION_NATIVE_DIR' {
        InModuleScope ImapMigration {
            $rid = Get-MigRuntimeIdentifier
            $rid | Should -Match '^(linux|osx|win)-(x64|arm64|x86|arm)$'
            $layout = Get-MigNativeLayout
            if ($rid -like 'linux-*') {
                $layout.LibraryPath | Should -BeLike "*module/runtimes/$rid/native/libimapmigration.so"
                $layout.WorkerPath | Should -BeLike "*module/runtimes/$rid/native/imapmigration"
            }
            $env:IMAPMIGRATION_NATIVE_DIR = '/x/y'
            try { (Get-MigNativeLayout).Directory | Should -Be ([System.IO.Path]::GetFullPath('/x/y')) }
            finally { Remove-Item Env:IMAPMIGRATION_NATIVE_DIR }
        }
    }

    Context 'native error <Code>' -ForEach @(
        @{ Code = 'NotFound'; Category = 'ObjectNotFound' }
        @{ Code = 'AlreadyExists'; Category = 'ResourceExists' }
        @{ Code = 'InvalidArgument'; Category = 'InvalidArgument' }
        @{ Code = 'CsvInvalid'; Category = 'InvalidArgument' }
        @{ Code = 'InvalidState'; Category = 'InvalidOperation' }
        @{ Code = 'AuthenticationFailed'; Category = 'AuthenticationError' }
        @{ Code = 'EndpointUnreachable'; Category = 'ConnectionError' }
        @{ Code = 'Unsupported'; Category = 'NotImplemented' }
        @{ Code = 'TlsError'; Category = 'SecurityError' }
        @{ Code = 'ServerRefused'; Category = 'ResourceUnavailable' }
        @{ Code = 'Protocol'; Category = 'ProtocolError' }
        @{ Code = 'Cancelled'; Category = 'OperationStopped' }
        @{ Code = 'VersionMismatch'; Category = 'NotInstalled' }
        @{ Code = 'Internal'; Category = 'InvalidResult' }
        @{ Code = 'Panic'; Category = 'InvalidResult' }
        # A code this module does not know yet (a newer library) still becomes an ErrorRecord.
        @{ Code = 'SomeFutureCode'; Category = 'NotSpecified' }
    ) {
        BeforeEach {
            $global:MigResponse = @{ ok = $false; error = @{ code = $Code; message = "engine says $Code"; details = @{ parameter = 'x' } } } | ConvertTo-Json -Depth 5 -Compress
        }

        It 'becomes an ErrorRecord <Code>,Get-MigrationBatch with category <Category>, the identity as target and the engine message' {
            $out = Get-MigrationBatch -Identity IMAPImport -ErrorVariable errs -ErrorAction SilentlyContinue
            $out | Should -BeNullOrEmpty
            $errs.Count | Should -Be 1
            $errs[0].FullyQualifiedErrorId | Should -Be "$Code,Get-MigrationBatch"
            $errs[0].CategoryInfo.Category | Should -Be $Category
            $errs[0].TargetObject | Should -Be 'IMAPImport'
            $errs[0].Exception.Message | Should -Be "engine says $Code"
            $errs[0].Exception.Code | Should -Be $Code
        }

        It 'stops the script with -ErrorAction Stop' {
            { New-MigrationBatch -Name B1 -SourceEndpoint E -CSVData ([byte[]](65)) -ErrorAction Stop } |
                Should -Throw -ErrorId "$Code,New-MigrationBatch"
        }
    }

    It 'lets -ErrorAction SilentlyContinue hide a missing batch (existence test idiom)' {
        $global:MigResponse = '{"ok":false,"error":{"code":"NotFound","message":"the migration batch Nope could not be found"}}'
        $r = Get-MigrationBatch Nope -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        { Get-MigrationBatch Nope -ErrorAction Stop } | Should -Throw -ErrorId 'NotFound,Get-MigrationBatch'
    }

    It 'throws a terminating error from the gateway itself when asked' {
        $global:MigResponse = '{"ok":false,"error":{"code":"InvalidState","message":"busy"}}'
        { InModuleScope ImapMigration { Invoke-MigNative -Operation 'batch.start' } } | Should -Throw -ErrorId 'InvalidState,Invoke-MigNative'
    }

    It 'never writes a password to verbose or debug output, or to error messages' {
        $global:MigResponse = '{"ok":false,"error":{"code":"AuthenticationFailed","message":"login refused for admin"}}'
        $cred = [pscredential]::new('admin', (ConvertTo-SecureString 'S3cret-Pa55' -AsPlainText -Force))
        $streams = New-MigrationEndpoint -IMAP -Name T -RemoteServer mail.fabrikam.com -Credentials $cred -TargetLogin MasterUser `
            -Verbose -Debug -ErrorVariable errs -ErrorAction SilentlyContinue 4>&1 5>&1 6>&1 3>&1 | Out-String
        $streams | Should -Not -Match 'S3cret-Pa55'
        ($errs | Out-String) | Should -Not -Match 'S3cret-Pa55'
        # ...but the request carries it for the engine to seal.
        $req = $global:MigRequests[0] | ConvertFrom-Json -AsHashtable
        $req.credentials.userName | Should -Be 'admin'
        $req.credentials.password | Should -Be 'S3cret-Pa55'
    }
}

Describe 'Native library loading' {
    It 'reports a missing native library with a stable id and the path' {
        if ('ImapMigration.Native' -as [type]) { Set-ItResult -Skipped -Because 'the native shim is already compiled in this process' ; return }
        $env:IMAPMIGRATION_NATIVE_DIR = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-missing-$PID"
        try {
            $err = $null
            try { InModuleScope ImapMigration { Invoke-MigNativeCall -RequestJson '{}' } } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.Exception.Message | Should -Match 'libimapmigration|imapmigration\.dll'
            # Through a cmdlet it is a terminating ErrorRecord.
            { Get-MigrationConfig } | Should -Throw -ErrorId 'NativeLibraryNotFound,Get-MigrationConfig'
        }
        finally { Remove-Item Env:IMAPMIGRATION_NATIVE_DIR }
    }

}

Describe 'Cmdlet arguments' {
    BeforeEach {
        $global:MigCalls.Clear()
        Mock -ModuleName ImapMigration Invoke-MigNative $FakeNative
    }

    Context 'endpoints' {
        It 'New-MigrationEndpoint -IMAP sends endpoint.new with the given settings only' {
            $ep = New-MigrationEndpoint -IMAP -Name IMAPEndpoint -RemoteServer imap.contoso.com -Port 993 -Security Ssl -MaxConcurrentMigrations 50 -MaxConcurrentIncrementalSyncs 10 -AcceptUntrustedCertificates
            $c = LastCall
            $c.Operation | Should -Be 'endpoint.new'
            $c.Arguments.name | Should -Be 'IMAPEndpoint'
            $c.Arguments.remoteServer | Should -Be 'imap.contoso.com'
            $c.Arguments.port | Should -Be 993
            $c.Arguments.security | Should -Be 'Ssl'
            $c.Arguments.maxConcurrentMigrations | Should -Be 50
            $c.Arguments.maxConcurrentIncrementalSyncs | Should -Be 10
            $c.Arguments.acceptUntrustedCertificates | Should -BeTrue
            $c.Arguments.ContainsKey('authentication') | Should -BeFalse
            $c.Arguments.ContainsKey('credentials') | Should -BeFalse
            $ep.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationEndpoint'
            "$($ep.Identity)" | Should -Be 'IMAPonpremises'
        }

        It 'shows progress while the endpoint is verified' {
            Mock -ModuleName ImapMigration Write-Progress { }
            $null = New-MigrationEndpoint -IMAP -Name E -RemoteServer imap.contoso.com
            Should -Invoke -ModuleName ImapMigration Write-Progress -ParameterFilter { -not $Completed }
            Should -Invoke -ModuleName ImapMigration Write-Progress -ParameterFilter { $Completed }
        }

        It 'sends the target extensions: credentials, login method, OAuth2 settings, an absolute CA path' {
            $cred = [pscredential]::new('admin', (ConvertTo-SecureString 'adminpass' -AsPlainText -Force))
            Push-Location ([System.IO.Path]::GetTempPath())
            try {
                $null = New-MigrationEndpoint -IMAP -Name Target -RemoteServer 127.0.0.1 -Port 10143 -Security Tls -Authentication OAuth2 `
                    -Credentials $cred -TargetLogin OAuth2 -OAuthTokenEndpoint https://idp/token -OAuthClientId cid -OAuthScope mail `
                    -TargetUserTemplate '{LocalPart}' -MasterUserSeparator '%' -CertificateAuthorityFile ca.pem -SkipVerification
            }
            finally { Pop-Location }
            $a = (LastCall).Arguments
            $a.authentication | Should -Be 'OAuth2'
            $a.credentials.userName | Should -Be 'admin'
            $a.credentials.password | Should -Be 'adminpass'
            $a.targetLogin | Should -Be 'OAuth2'
            $a.oauthTokenEndpoint | Should -Be 'https://idp/token'
            $a.oauthClientId | Should -Be 'cid'
            $a.oauthScope | Should -Be 'mail'
            $a.targetUserTemplate | Should -Be '{LocalPart}'
            $a.masterUserSeparator | Should -Be '%'
            $a.skipVerification | Should -BeTrue
            [System.IO.Path]::IsPathRooted($a.caFile) | Should -BeTrue
            $a.caFile | Should -BeLike '*ca.pem'
        }

        It 'sends -MaxConnectionsPerUser and -PreserveOrder (extensions) only when named' {
            $null = New-MigrationEndpoint -IMAP -Name T -RemoteServer s -MaxConnectionsPerUser 15 -PreserveOrder -SkipVerification
            $a = (LastCall).Arguments
            $a.maxConnectionsPerUser | Should -Be 15
            $a.preserveOrder | Should -BeTrue
            $null = Set-MigrationEndpoint T -PreserveOrder $false
            $a = (LastCall).Arguments
            $a.preserveOrder | Should -BeFalse
            $a.ContainsKey('maxConnectionsPerUser') | Should -BeFalse
        }

        It 'sends -DisableCompression (extension) only when named' {
            $null = New-MigrationEndpoint -IMAP -Name T -RemoteServer s -SkipVerification
            (LastCall).Arguments.ContainsKey('disableCompression') | Should -BeFalse
            $null = New-MigrationEndpoint -IMAP -Name T -RemoteServer s -DisableCompression -SkipVerification
            (LastCall).Arguments.disableCompression | Should -BeTrue
            $null = Set-MigrationEndpoint T -DisableCompression $false
            $a = (LastCall).Arguments
            $a.ContainsKey('disableCompression') | Should -BeTrue
            $a.disableCompression | Should -BeFalse
        }

        It 'sends -VerifyContent (extension) only when named' {
            $null = New-MigrationEndpoint -IMAP -Name T -RemoteServer s -SkipVerification
            (LastCall).Arguments.ContainsKey('verifyContent') | Should -BeFalse
            $null = New-MigrationEndpoint -IMAP -Name T -RemoteServer s -VerifyContent -SkipVerification
            (LastCall).Arguments.verifyContent | Should -BeTrue
            $null = Set-MigrationEndpoint T -VerifyContent $false
            $a = (LastCall).Arguments
            $a.ContainsKey('verifyContent') | Should -BeTrue
            $a.verifyContent | Should -BeFalse
            $null = Set-MigrationEndpoint T -PreserveOrder $true
            (LastCall).Arguments.ContainsKey('verifyContent') | Should -BeFalse
        }

        It 'refuses an authentication method IMAP does not have' {
            { New-MigrationEndpoint -IMAP -Name E -RemoteServer s -Authentication Kerberos } | Should -Throw -ErrorId 'InvalidArgument,New-MigrationEndpoint'
            Should -Invoke -ModuleName ImapMigration Invoke-MigNative -Times 0 -Exactly
        }

        It 'Get-MigrationEndpoint sends endpoint.get with identity or type' {
            $null = Get-MigrationEndpoint IMAPEndpoint
            (LastCall).Arguments.identity | Should -Be 'IMAPEndpoint'
            $null = Get-MigrationEndpoint -Type IMAP
            (LastCall).Arguments.type | Should -Be 'IMAP'
            $null = Get-MigrationEndpoint
            (LastCall).Arguments.Count | Should -Be 0
            $null = Get-MigrationEndpoint -Identity $null
            (LastCall).Arguments.Count | Should -Be 0
        }

        It 'Set-MigrationEndpoint sends only what is named' {
            Set-MigrationEndpoint -Identity Onboardingmigrationendpoint01 -MaxConcurrentMigrations 10 -RemoteServer Server01.contoso.com
            $c = LastCall
            $c.Operation | Should -Be 'endpoint.set'
            $c.Arguments.identity | Should -Be 'Onboardingmigrationendpoint01'
            $c.Arguments.maxConcurrentMigrations | Should -Be 10
            $c.Arguments.remoteServer | Should -Be 'Server01.contoso.com'
            @($c.Arguments.Keys | Sort-Object) | Should -Be @('identity', 'maxConcurrentMigrations', 'remoteServer')
        }

        It 'Set-MigrationEndpoint takes endpoints from the pipeline' {
            Get-MigrationEndpoint | Set-MigrationEndpoint -AcceptUntrustedCertificates $false
            $c = LastCall
            $c.Arguments.identity | Should -Be 'IMAPonpremises'
            $c.Arguments.acceptUntrustedCertificates | Should -BeFalse
        }

        It 'Remove-MigrationEndpoint sends endpoint.remove' {
            Remove-MigrationEndpoint -Identity CrossForestME01 -Confirm:$false
            (LastCall).Operation | Should -Be 'endpoint.remove'
            (LastCall).Arguments.identity | Should -Be 'CrossForestME01'
        }

        It 'Test-MigrationServerAvailability -IMAP tests server, port, security; shows progress; returns the result object' {
            Mock -ModuleName ImapMigration Write-Progress { }
            $r = Test-MigrationServerAvailability -IMAP -RemoteServer imap.contoso.com -Port 143 -Security Tls
            $c = LastCall
            $c.Operation | Should -Be 'endpoint.test'
            $c.Arguments.remoteServer | Should -Be 'imap.contoso.com'
            $c.Arguments.port | Should -Be 143
            $c.Arguments.security | Should -Be 'Tls'
            $c.Arguments.acceptUntrustedCertificates | Should -BeFalse
            $r.Result | Should -Be 'Success'
            $r.PSObject.TypeNames[0] | Should -Be 'ImapMigration.TestMigrationServerAvailabilityResult'
            Should -Invoke -ModuleName ImapMigration Write-Progress -ParameterFilter { $Completed }
        }

        It 'Test-MigrationServerAvailability defaults to Ssl' {
            $null = Test-MigrationServerAvailability -Imap -RemoteServer imap.contoso.com -Port 993
            (LastCall).Arguments.security | Should -Be 'Ssl'
        }

        It 'Test-MigrationServerAvailability -Endpoint tests a stored endpoint, given by Identity object' {
            $MRSEndpoints = (Get-MigrationEndpoint).Identity
            foreach ($MEP in $MRSEndpoints) { $null = Test-MigrationServerAvailability -Endpoint $MEP }
            (LastCall).Arguments.endpoint | Should -Be 'IMAPonpremises'
        }
    }

    Context 'batches' {
        It 'New-MigrationBatch sends the CSV bytes as base64 and the other settings' {
            $csv = [System.Text.Encoding]::UTF8.GetBytes("EmailAddress,UserName,Password`r`nlaura@contoso.com,laura,P@ssw0rd`r`n")
            $b = New-MigrationBatch -Name IMAPBatch1 -SourceEndpoint IMAPEndpoint -CSVData $csv -AutoStart `
                -NotificationEmails 'admin@contoso.com', 'ops@contoso.com' -ExcludeFolders 'Deleted Items', 'Junk Email' `
                -IncludeFolders 'Inbox/*' -ContentFilter "Received -gt '8/23/2015'" -AllowUnknownColumnsInCsv $true `
                -ReportInterval (New-TimeSpan -Hours 12) -SkipReports -BadItemLimit 10 -LargeItemLimit Unlimited -Partition ignored
            $c = LastCall
            $c.Operation | Should -Be 'batch.new'
            $a = $c.Arguments
            $a.name | Should -Be 'IMAPBatch1'
            $a.sourceEndpoint | Should -Be 'IMAPEndpoint'
            $a.csvData | Should -Be ([Convert]::ToBase64String($csv))
            [Convert]::FromBase64String($a.csvData) | Should -Be $csv
            $a.autoStart | Should -BeTrue
            $a.notificationEmails | Should -Be @('admin@contoso.com', 'ops@contoso.com')
            $a.excludeFolders | Should -Be @('Deleted Items', 'Junk Email')
            $a.includeFolders | Should -Be @('Inbox/*')
            $a.contentFilter | Should -Be "Received -gt '8/23/2015'"
            $a.allowUnknownColumnsInCsv | Should -BeTrue
            $a.reportInterval | Should -Be 43200
            $a.skipReports | Should -BeTrue
            $a.badItemLimit | Should -Be 10
            $a.largeItemLimit | Should -Be 'Unlimited'
            $a.ContainsKey('partition') | Should -BeFalse
            $a.ContainsKey('targetEndpoint') | Should -BeFalse
            $b.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationBatch'
        }

        It 'New-/Set-MigrationBatch -MaxMessageSize (extension) sends bytes from a size as Exchange writes one' {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -MaxMessageSize '35 MB'
            (LastCall).Arguments.maxMessageSize | Should -Be (35MB)
            $null = Set-MigrationBatch -Identity B -MaxMessageSize 1.5GB
            (LastCall).Arguments.maxMessageSize | Should -Be ([uint64](1.5GB))
            $null = Set-MigrationBatch -Identity B -MaxMessageSize Unlimited
            (LastCall).Arguments.maxMessageSize | Should -Be 'Unlimited'
            $null = Set-MigrationBatch -Identity B -MaxMessageSize $null -SkipReports $true
            (LastCall).Arguments.skipReports | Should -BeTrue
            (LastCall).Arguments.ContainsKey('maxMessageSize') | Should -BeFalse
            $err = { Set-MigrationBatch -Identity B -MaxMessageSize 'lots' -ErrorAction Stop } | Should -Throw -PassThru
            $err.Exception.Message | Should -Match "'lots' of -MaxMessageSize is not valid"
        }

        It 'New-MigrationBatch sends a one-element list as a JSON array' {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -ExcludeFolders 'Junk Email'
            $json = InModuleScope ImapMigration -Parameters @{ A = (LastCall).Arguments } { param($A) ConvertTo-Json -InputObject $A -Depth 20 -Compress }
            $json | Should -Match '"excludeFolders":\["Junk Email"\]'
        }

        It 'New-MigrationBatch sends -TargetEndpoint (extension) by name' {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -TargetEndpoint Dovecot -CSVData ([byte[]](65))
            (LastCall).Arguments.targetEndpoint | Should -Be 'Dovecot'
        }

        It 'reads a -StartAfter without a zone as UTC: <Text>' -ForEach @(
            @{ Text = '7/30/2026 9:00PM'; Expected = '2026-07-30T21:00:00Z' }
            @{ Text = '7/30/2026 9:00PM Z'; Expected = '2026-07-30T21:00:00Z' }
            @{ Text = '7/30/2026 9:00PM -7:00'; Expected = '2026-07-31T04:00:00Z' }
            @{ Text = '2026-07-30T21:00:00+02:00'; Expected = '2026-07-30T19:00:00Z' }
        ) {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -StartAfter $Text -CompleteAfter $Text
            (LastCall).Arguments.startAfter | Should -Be $Expected
            (LastCall).Arguments.completeAfter | Should -Be $Expected
        }

        It 'converts a -StartAfter without a zone from -TimeZone' {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -StartAfter ([datetime]'2026-01-15 09:00') -TimeZone 'Pacific Standard Time'
            (LastCall).Arguments.startAfter | Should -Be '2026-01-15T17:00:00Z'
            (LastCall).Arguments.timeZone | Should -Be 'Pacific Standard Time'
        }

        It 'converts a local DateTime to UTC' {
            $local = [datetime]::SpecifyKind([datetime]'2026-03-01 12:00', 'Local')
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -StartAfter $local
            (LastCall).Arguments.startAfter | Should -Be $local.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
        }

        It 'refuses an unknown -TimeZone before calling the engine' {
            { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -TimeZone 'Mars Standard Time' } | Should -Throw -ErrorId 'InvalidArgument,New-MigrationBatch'
            Should -Invoke -ModuleName ImapMigration Invoke-MigNative -Times 0 -Exactly
        }

        It 'asks for a source endpoint and for CSV data' {
            { New-MigrationBatch -Name B -CSVData ([byte[]](65)) } | Should -Throw -ErrorId 'InvalidArgument,New-MigrationBatch'
            { New-MigrationBatch -Name B -SourceEndpoint E } | Should -Throw -ErrorId 'InvalidArgument,New-MigrationBatch'
            Should -Invoke -ModuleName ImapMigration Invoke-MigNative -Times 0 -Exactly
        }

        It 'warns to review validation warnings and run Start-MigrationBatch' {
            Mock -ModuleName ImapMigration Invoke-MigNative {
                $b = $global:MigFx.batch.PSObject.Copy()
                $b.Status = 'Stopped'
                $b.ValidationWarningCount = 1
                $b.ValidationWarnings = @([pscustomobject]@{ RowIndex = 2; EmailAddress = 'x@contoso.com'; LocalizedErrorMessage = 'Password is blank' })
                $b
            } -ParameterFilter { $Operation -eq 'batch.new' }
            $b = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -AutoStart -WarningVariable warn 3>$null
            $warn.Count | Should -Be 1
            "$warn" | Should -Match 'validation warning'
            "$warn" | Should -Match 'Start-MigrationBatch'
            $b.ValidationWarnings[0].RowIndex | Should -Be 2
            $b.ValidationWarnings[0].PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationBatchError'
        }

        It 'sends the re-batch sets (-Users, -UserIds) to the engine as one batch.new with users' {
            $failed = @(Get-MigrationUser -Status Failed)
            $global:MigCalls.Clear()
            $null = New-MigrationBatch -Name 'Retry Failed Users' -Users $failed -AutoStart
            (LastCall).Operation | Should -Be 'batch.new'
            (LastCall).Arguments.users | Should -Be @($failed | ForEach-Object { "$($_.Guid)" })
            (LastCall).Arguments.autoStart | Should -BeTrue
            (LastCall).Arguments.ContainsKey('csvData') | Should -BeFalse
            $global:MigCalls.Clear()
            $null = New-MigrationBatch -Name Retry -UserIds 'a@contoso.com', 'b@contoso.com' -DisableOnCopy
            $global:MigCalls.Count | Should -Be 1
            (LastCall).Arguments.users | Should -Be @('a@contoso.com', 'b@contoso.com')
        }

        It '-WhatIf prints the one operation it would do, nothing of the module itself' {
            # What-if lines go to the host, so run the cmdlet in a child pwsh and read its output.
            $manifest = (Resolve-Path (Join-Path $PSScriptRoot '..' 'ImapMigration.psd1')).Path
            $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
            if (-not $pwsh) { $pwsh = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' }) }
            $script = "Import-Module '$manifest'; New-MigrationBatch -Name X -Users ([pscustomobject]@{ Identity = 'a@contoso.com' }) -WhatIf"
            $out = & $pwsh -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
            ([regex]::Matches($out, 'What if:')).Count | Should -Be 1 -Because $out
            $out | Should -Match 'Move 1 migration user'
        }

        It 'sends -AdoptPreexisting with the CSV, and accepts -RemoveOnCopy' {
            $null = New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -AdoptPreexisting -RemoveOnCopy
            (LastCall).Operation | Should -Be 'batch.new'
            (LastCall).Arguments.adoptPreexisting | Should -BeTrue
        }

        It 'refuses -Users of another migration type by name, without calling the engine' {
            $global:MigCalls.Clear()
            $other = [pscustomobject]@{ Identity = 'x@contoso.com'; Guid = [guid]::NewGuid(); MigrationType = 'ExchangeRemoteMove' }
            { New-MigrationBatch -Name Retry -Users $other } | Should -Throw -ErrorId 'InvalidArgument,New-MigrationBatch' -ExpectedMessage '*x@contoso.com (ExchangeRemoteMove)*Nothing was moved*'
            $global:MigCalls.Count | Should -Be 0
        }

        It 'binds New-MigrationBatch -Name X -Users to the Preexisting set' {
            $cmd = Get-Command New-MigrationBatch
            $cmd.ParameterSets.Name | Should -Contain 'Preexisting'
            $cmd.ParameterSets.Name | Should -Contain 'PreexistingUsers'
            $cmd.ParameterSets.Name | Should -Contain 'PreexistingUserIds'
            $cmd.DefaultParameterSet | Should -Be 'Onboarding'
        }

        It 'Get-MigrationBatch sends batch.get and returns typed batches' {
            $b = Get-MigrationBatch -Identity IMAPBatch1 -IncludeReport -ResultSize 5
            $a = (LastCall).Arguments
            (LastCall).Operation | Should -Be 'batch.get'
            $a.identity | Should -Be 'IMAPBatch1'
            $a.includeReport | Should -BeTrue
            $a.resultSize | Should -Be 5
            $b.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationBatch'
        }

        It 'Get-MigrationBatch -Endpoint / -Status resolve their parameter sets and send the filter' {
            $null = Get-MigrationBatch -Endpoint exsrv1.contoso.com
            (LastCall).Arguments.endpoint | Should -Be 'exsrv1.contoso.com'
            $null = Get-MigrationBatch -Endpoint exsrv1.contoso.com -Status Synced
            (LastCall).Arguments.status | Should -Be 'Synced'
            $null = Get-MigrationBatch -Status Syncing
            (LastCall).Arguments.status | Should -Be 'Syncing'
            (LastCall).Arguments.ContainsKey('identity') | Should -BeFalse
        }

        It 'Get-MigrationBatch with a $null Identity returns all batches' {
            $null = Get-MigrationBatch -Identity $null
            (LastCall).Arguments.ContainsKey('identity') | Should -BeFalse
        }

        It 'Set-MigrationBatch -AddUsers -CSVData sends batch.set' {
            $csv = [byte[]](69, 109)
            Set-MigrationBatch -Identity MigrationBatch01 -AddUsers -CSVData $csv
            $c = LastCall
            $c.Operation | Should -Be 'batch.set'
            $c.Arguments.identity | Should -Be 'MigrationBatch01'
            $c.Arguments.addUsers | Should -BeTrue
            $c.Arguments.csvData | Should -Be ([Convert]::ToBase64String($csv))
        }

        It 'Set-MigrationBatch -SyncNow / schedule / reports / limits' {
            Set-MigrationBatch -Identity IMAPBatch1 -SyncNow -Update -StartAfter '2026-08-01 10:00' -NotificationEmails 'a@contoso.com' -SkipReports $false -ReportInterval 0 -BadItemLimit unlimited
            $a = (LastCall).Arguments
            $a.syncNow | Should -BeTrue
            $a.update | Should -BeTrue
            $a.startAfter | Should -Be '2026-08-01T10:00:00Z'
            $a.notificationEmails | Should -Be @('a@contoso.com')
            $a.skipReports | Should -BeFalse
            $a.reportInterval | Should -Be 0
            $a.badItemLimit | Should -Be 'Unlimited'
        }

        It 'Set-MigrationBatch -AddUsers needs -CSVData' {
            { Set-MigrationBatch -Identity B -AddUsers } | Should -Throw -ErrorId 'InvalidArgument,Set-MigrationBatch'
        }

        It '<Command> sends <Operation> with the identity' -ForEach @(
            @{ Command = 'Start-MigrationBatch'; Operation = 'batch.start' }
            @{ Command = 'Stop-MigrationBatch'; Operation = 'batch.stop' }
            @{ Command = 'Complete-MigrationBatch'; Operation = 'batch.complete' }
            @{ Command = 'Remove-MigrationBatch'; Operation = 'batch.remove' }
        ) {
            & $Command -Identity IMAPBatch1 -Confirm:$false
            (LastCall).Operation | Should -Be $Operation
            (LastCall).Arguments.identity | Should -Be 'IMAPBatch1'
            (LastCall).NonTerminating | Should -BeTrue
        }

        It '<_> without -Identity leaves the choice of the single batch to the engine' -ForEach @('Start-MigrationBatch', 'Stop-MigrationBatch', 'Complete-MigrationBatch', 'Remove-MigrationBatch') {
            & $_ -Confirm:$false
            (LastCall).Arguments.ContainsKey('identity') | Should -BeFalse
        }

        It 'takes batches from the pipeline: Get-MigrationBatch | Stop-MigrationBatch' {
            Get-MigrationBatch | Stop-MigrationBatch -Confirm:$false
            (LastCall).Operation | Should -Be 'batch.stop'
            (LastCall).Arguments.identity | Should -Be 'UJV1'
        }

        It 'chains New-MigrationBatch into Start-MigrationBatch by Identity' {
            $b = New-MigrationBatch -Name UJV1 -SourceEndpoint E -CSVData ([byte[]](65))
            Start-MigrationBatch -Identity $b.Identity
            (LastCall).Arguments.identity | Should -Be 'UJV1'
            Start-MigrationBatch -Identity $b.Identity.Name
            (LastCall).Arguments.identity | Should -Be 'UJV1'
        }
    }

    Context 'users, statistics, configuration' {
        It 'Get-MigrationUser -BatchId $b.Identity sends the batch name' {
            $b = Get-MigrationBatch UJV1
            $users = Get-MigrationUser -BatchId $b.Identity
            (LastCall).Operation | Should -Be 'user.get'
            (LastCall).Arguments.batchId | Should -Be 'UJV1'
            $users.Count | Should -Be 2
            $users[0].PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationUser'
        }

        It 'Get-MigrationUser filters: <Name>' -ForEach @(
            @{ Name = 'Status'; Splat = @{ Status = 'Failed' }; Key = 'status'; Value = 'Failed' }
            @{ Name = 'StatusSummary'; Splat = @{ StatusSummary = 'Synced' }; Key = 'statusSummary'; Value = 'Synced' }
            @{ Name = 'EmailAddress'; Splat = @{ EmailAddress = 'x@contoso.com' }; Key = 'emailAddress'; Value = 'x@contoso.com' }
            @{ Name = 'Identity'; Splat = @{ Identity = 'TonySmith@contoso.com' }; Key = 'identity'; Value = 'TonySmith@contoso.com' }
            @{ Name = 'MailboxGuid'; Splat = @{ MailboxGuid = [guid]'9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }; Key = 'mailboxGuid'; Value = '9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' }
        ) {
            $null = Get-MigrationUser @Splat
            (LastCall).Arguments[$Key] | Should -Be $Value
        }

        It 'pipes Get-MigrationUser -BatchId X into Get-MigrationUserStatistics, one call per user' {
            $stats = Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics
            $calls = @($global:MigCalls | Where-Object Operation -eq 'user.statistics')
            $calls.Count | Should -Be 2
            $calls[0].Arguments.identity | Should -Be 'laura@contoso.com'
            $calls[1].Arguments.identity | Should -Be 'bob@contoso.com'
            $stats.Count | Should -Be 2
            $stats[0].PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationUserStatistics'
            $stats[0].SyncedItemCount | Should -Be 14
        }

        It 'binds Get-MigrationUserStatistics -Identity by property name from other objects' {
            $null = [pscustomobject]@{ Identity = 'carol@contoso.com' } | Get-MigrationUserStatistics
            (LastCall).Arguments.identity | Should -Be 'carol@contoso.com'
            $null = 'dave@contoso.com' | Get-MigrationUserStatistics -IncludeSkippedItems -IncludeReport -LimitSkippedItemsTo 5
            $a = (LastCall).Arguments
            $a.identity | Should -Be 'dave@contoso.com'
            $a.includeSkippedItems | Should -BeTrue
            $a.includeReport | Should -BeTrue
            $a.limitSkippedItemsTo | Should -Be 5
        }

        It 'returns skipped items with UTC dates' {
            $s = Get-MigrationUserStatistics -Identity laura@contoso.com -IncludeSkippedItems
            $item = $s.SkippedItems | Select-Object -First 1
            $item.Subject | Should -Be 'Big'
            $item.DateReceived | Should -BeOfType [datetime]
            $item.DateReceived.Kind | Should -Be 'Utc'
        }

        It 'Set-MigrationUser -SyncNow sends user.set and makes sure the worker runs' {
            Set-MigrationUser -Identity laura@contoso.com -SyncNow -LargeItemLimit 3
            $ops = $global:MigCalls.Operation
            $ops | Should -Contain 'user.set'
            $ops[-1] | Should -Be 'worker.ensure'
            ($global:MigCalls | Where-Object Operation -eq 'user.set').Arguments.largeItemLimit | Should -Be 3
        }

        It '<Command> sends <Operation>' -ForEach @(
            @{ Command = 'Start-MigrationUser'; Operation = 'user.start' }
            @{ Command = 'Stop-MigrationUser'; Operation = 'user.stop' }
            @{ Command = 'Remove-MigrationUser'; Operation = 'user.remove' }
        ) {
            & $Command -Identity laura@contoso.com -Confirm:$false
            $call = $global:MigCalls | Where-Object Operation -eq $Operation
            $call.Arguments.identity | Should -Be 'laura@contoso.com'
        }

        It 'Start-MigrationUser without -Identity explains what is missing' {
            { Start-MigrationUser } | Should -Throw -ErrorId 'InvalidArgument,Start-MigrationUser'
        }

        It 'Get-MigrationUser -Status Failed | Remove-MigrationUser -Confirm:$false removes each user' {
            Get-MigrationUser -Status Failed | Remove-MigrationUser -Confirm:$false
            @($global:MigCalls | Where-Object Operation -eq 'user.remove').Arguments.identity | Should -Be @('laura@contoso.com', 'bob@contoso.com')
        }

        It 'Get-MigrationStatistics and Get-MigrationConfig return typed objects' {
            (Get-MigrationStatistics).PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationStatistics'
            (LastCall).Operation | Should -Be 'statistics.get'
            $cfg = Get-MigrationConfig
            $cfg.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationConfig'
            (LastCall).Operation | Should -Be 'config.get'
            $cfg.MaxNumberOfBatches | Should -Be 100
            $cfg.ConnectTimeout | Should -Be ([timespan]::FromSeconds(15))
            $cfg.IdleTimeout | Should -Be ([timespan]::FromMilliseconds(2500))
            $cfg.MinTransferRate | Should -Be 1024
        }

        It 'Set-MigrationConfig sends the extensions' {
            Set-MigrationConfig -DefaultTargetEndpoint Dovecot -IncrementalSyncInterval (New-TimeSpan -Hours 4) -MaxConcurrentMigrations 40 `
                -SmtpRelay @{ Server = 'smtp.contoso.com'; Port = 587; From = 'mig@contoso.com'; Security = 'Tls' }
            $a = (LastCall).Arguments
            (LastCall).Operation | Should -Be 'config.set'
            $a.defaultTargetEndpoint | Should -Be 'Dovecot'
            $a.incrementalSyncIntervalSecs | Should -Be 14400
            $a.maxConcurrentMigrations | Should -Be 40
            $a.smtpRelay.server | Should -Be 'smtp.contoso.com'
            $a.smtpRelay.port | Should -Be 587
            $a.smtpRelay.from | Should -Be 'mig@contoso.com'
            $a.smtpRelay.security | Should -Be 'Tls'
        }

        It 'Set-MigrationConfig -SmtpRelay takes a credential and keeps its password out of the output' {
            $cred = [pscredential]::new('relay-user', (ConvertTo-SecureString 'Relay-Secret-551' -AsPlainText -Force))
            $out = Set-MigrationConfig -SmtpRelay @{ Server = 'smtp.contoso.com'; Port = 587; From = 'mig@contoso.com'; Credential = $cred } -Verbose 4>&1 | Out-String
            $a = (LastCall).Arguments
            $a.smtpRelay.userName | Should -Be 'relay-user'
            $a.smtpRelay.password | Should -Be 'Relay-Secret-551'
            $a.smtpRelay.ContainsKey('credential') | Should -BeFalse
            $out | Should -Not -Match 'Relay-Secret-551'
        }

        It 'Set-MigrationConfig -MemoryBudget sends bytes, a size text as given, and $null to clear' {
            Set-MigrationConfig -MemoryBudget 512MB
            (LastCall).Arguments.memoryBudget | Should -Be 536870912
            Set-MigrationConfig -MemoryBudget '1GB'
            (LastCall).Arguments.memoryBudget | Should -Be '1GB'
            Set-MigrationConfig -MemoryBudget $null
            $a = (LastCall).Arguments
            $a.ContainsKey('memoryBudget') | Should -BeTrue
            $a.memoryBudget | Should -BeNullOrEmpty
        }

        It 'Set-MigrationConfig sends the stall limits in seconds from numbers, TimeSpans and their text' {
            Set-MigrationConfig -ConnectTimeout 5 -GreetingTimeout (New-TimeSpan -Seconds 45) -TlsTimeout '00:01:30' `
                -LoginTimeout '2.5' -IdleTimeout ([timespan]::FromMinutes(2)) -MinTransferRate 4KB
            $a = (LastCall).Arguments
            (LastCall).Operation | Should -Be 'config.set'
            $a.connectTimeout | Should -Be 5
            $a.greetingTimeout | Should -Be 45
            $a.tlsTimeout | Should -Be 90
            $a.loginTimeout | Should -Be 2.5
            $a.idleTimeout | Should -Be 120
            $a.minTransferRate | Should -Be 4096
            Set-MigrationConfig -MinTransferRate '1 KB'
            (LastCall).Arguments.minTransferRate | Should -Be '1 KB'
        }

        It 'Set-MigrationConfig -<Name> $null reverts to the default' -ForEach @(
            @{ Name = 'ConnectTimeout' }, @{ Name = 'IdleTimeout' }, @{ Name = 'MinTransferRate' }
        ) {
            $parameters = @{ $Name = $null }
            Set-MigrationConfig @parameters
            $a = (LastCall).Arguments
            $key = $Name.Substring(0, 1).ToLowerInvariant() + $Name.Substring(1)
            $a.ContainsKey($key) | Should -BeTrue
            $a[$key] | Should -BeNullOrEmpty
        }

        It 'Set-MigrationConfig refuses a stall limit it cannot read, naming the parameter' -ForEach @(
            @{ Name = 'LoginTimeout'; Value = 'soon' }, @{ Name = 'GreetingTimeout'; Value = $true }
            @{ Name = 'MinTransferRate'; Value = -5 }, @{ Name = 'MinTransferRate'; Value = 1.5 }
        ) {
            $before = @($global:MigCalls).Count
            $parameters = @{ $Name = $Value; ErrorAction = 'Stop' }
            { Set-MigrationConfig @parameters } | Should -Throw -ExpectedMessage "*-$Name*" -ErrorId 'InvalidArgument,Set-MigrationConfig'
            @($global:MigCalls).Count | Should -Be $before
        }

        It 'Set-MigrationConfig -SmtpRelay refuses an unknown key, naming it' {
            { Set-MigrationConfig -SmtpRelay @{ Server = 'smtp.contoso.com'; Bogus = 1 } -ErrorAction Stop } |
                Should -Throw -ExpectedMessage '*Bogus*'
        }

        It 'Set-MigrationConfig -DefaultTargetEndpoint $null reverts to the local store' {
            Set-MigrationConfig -DefaultTargetEndpoint $null
            $a = (LastCall).Arguments
            $a.ContainsKey('defaultTargetEndpoint') | Should -BeTrue
            $a.defaultTargetEndpoint | Should -BeNullOrEmpty
        }

        It 'Set-MigrationConfig sends the console settings and keeps the password out of the output' {
            $pw = ConvertTo-SecureString 'Console-Secret-771' -AsPlainText -Force
            $out = Set-MigrationConfig -ConsoleListen 127.0.0.1:8440 -ConsoleCertificate /etc/c.pem -ConsoleKey /etc/k.pem -ConsolePassword $pw -Verbose 4>&1 | Out-String
            $a = (LastCall).Arguments
            (LastCall).Operation | Should -Be 'config.set'
            $a.consoleListen | Should -Be '127.0.0.1:8440'
            $a.consoleCertificate | Should -Be '/etc/c.pem'
            $a.consoleKey | Should -Be '/etc/k.pem'
            $a.consolePassword | Should -Be 'Console-Secret-771'
            $out | Should -Not -Match 'Console-Secret-771'
        }

        It 'Set-MigrationConfig -ConsoleListen $null turns the console off, -ConsolePassword $null removes the password' {
            Set-MigrationConfig -ConsoleListen $null -ConsolePassword $null
            $a = (LastCall).Arguments
            $a.ContainsKey('consoleListen') | Should -BeTrue
            $a.consoleListen | Should -BeNullOrEmpty
            $a.ContainsKey('consolePassword') | Should -BeTrue
            $a.consolePassword | Should -BeNullOrEmpty
        }

        It 'Open-MigrationConsole returns the login link as an ImapMigration.MigrationConsole' {
            $c = Open-MigrationConsole
            (LastCall).Operation | Should -Be 'console.open'
            $c.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationConsole'
            $c.Url | Should -Be 'http://127.0.0.1:8440/login?token=abc'
            @($c.PSObject.Properties.Name) | Should -Be @('Url', 'Address', 'Tls', 'ExpiresAt')
        }
    }
}

Describe '-WhatIf calls nothing native' {
    BeforeEach {
        $global:MigCalls.Clear()
        Mock -ModuleName ImapMigration Invoke-MigNative $FakeNative
        Mock -ModuleName ImapMigration Invoke-MigNativeCall { throw 'the transport must not be reached' }
    }

    It '<Text>' -ForEach @(
        @{ Text = 'New-MigrationEndpoint'; Script = { New-MigrationEndpoint -IMAP -Name E -RemoteServer s -WhatIf } }
        @{ Text = 'Set-MigrationEndpoint'; Script = { Set-MigrationEndpoint -Identity E -Port 143 -WhatIf } }
        @{ Text = 'Remove-MigrationEndpoint'; Script = { Remove-MigrationEndpoint -Identity E -WhatIf } }
        @{ Text = 'Test-MigrationServerAvailability'; Script = { Test-MigrationServerAvailability -Imap -RemoteServer s -Port 993 -WhatIf } }
        @{ Text = 'New-MigrationBatch'; Script = { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -AutoStart -WhatIf } }
        @{ Text = 'Set-MigrationBatch'; Script = { Set-MigrationBatch -Identity B -SyncNow -WhatIf } }
        @{ Text = 'Start-MigrationBatch'; Script = { Start-MigrationBatch -Identity B -WhatIf } }
        @{ Text = 'Start-MigrationBatch without Identity'; Script = { Start-MigrationBatch -WhatIf } }
        @{ Text = 'Stop-MigrationBatch'; Script = { Stop-MigrationBatch -Identity B -WhatIf } }
        @{ Text = 'Complete-MigrationBatch'; Script = { Complete-MigrationBatch -Identity B -WhatIf } }
        @{ Text = 'Remove-MigrationBatch'; Script = { Remove-MigrationBatch -Identity B -WhatIf } }
        @{ Text = 'Set-MigrationUser'; Script = { Set-MigrationUser -Identity u@contoso.com -SyncNow -WhatIf } }
        @{ Text = 'Start-MigrationUser'; Script = { Start-MigrationUser -Identity u@contoso.com -WhatIf } }
        @{ Text = 'Stop-MigrationUser'; Script = { Stop-MigrationUser -Identity u@contoso.com -WhatIf } }
        @{ Text = 'Remove-MigrationUser'; Script = { Remove-MigrationUser -Identity u@contoso.com -WhatIf } }
        @{ Text = 'Set-MigrationConfig'; Script = { Set-MigrationConfig -MaxConcurrentMigrations 5 -WhatIf } }
        @{ Text = 'Set-MigrationConfig -ConsoleListen'; Script = { Set-MigrationConfig -ConsoleListen 127.0.0.1:0 -WhatIf } }
        @{ Text = 'Open-MigrationConsole'; Script = { Open-MigrationConsole -Launch -WhatIf } }
    ) {
        $null = & $Script
        Should -Invoke -ModuleName ImapMigration Invoke-MigNative -Times 0 -Exactly
        $global:MigCalls.Count | Should -Be 0
    }
}

Describe 'Confirmation' {
    BeforeEach {
        Mock -ModuleName ImapMigration Invoke-MigNative $FakeNative
        $global:MigCalls.Clear()
    }

    It 'Stop-, Complete- and Remove-* prompt by default and New-/Set-/Start-* do not (non-interactive child process)' {
        $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
        if (-not $pwsh) { $pwsh = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' }) }
        $manifest = Join-Path $RepoRoot 'ImapMigration.psd1'
        $script = @"
Import-Module '$manifest'
& (Get-Module ImapMigration) { function script:Invoke-MigNative { param([string]`$Operation, [hashtable]`$Arguments, `$Cmdlet, `$TargetObject, [switch]`$NonTerminating) `$global:NativeCalled = `$Operation } }
function Probe([scriptblock]`$s) { `$global:NativeCalled = `$null; try { `$null = & `$s; if (`$global:NativeCalled) { 'ran' } else { 'nothing' } } catch { 'prompted' } }
'Stop-MigrationBatch=' + (Probe { Stop-MigrationBatch -Identity B })
'Complete-MigrationBatch=' + (Probe { Complete-MigrationBatch -Identity B })
'Remove-MigrationBatch=' + (Probe { Remove-MigrationBatch -Identity B })
'Remove-MigrationUser=' + (Probe { Remove-MigrationUser -Identity u@x })
'Remove-MigrationEndpoint=' + (Probe { Remove-MigrationEndpoint -Identity E })
'Stop-MigrationBatch-NoConfirm=' + (Probe { Stop-MigrationBatch -Identity B -Confirm:`$false })
'Start-MigrationBatch=' + (Probe { Start-MigrationBatch -Identity B })
'New-MigrationBatch=' + (Probe { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) })
'Set-MigrationBatch=' + (Probe { Set-MigrationBatch -Identity B -SyncNow })
'Start-MigrationBatch-Confirm=' + (Probe { Start-MigrationBatch -Identity B -Confirm })
"@
        $scriptFile = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-confirm-$PID.ps1"
        Set-Content -Path $scriptFile -Value $script
        try { $lines = & $pwsh -NoProfile -NonInteractive -File $scriptFile 2>&1 }
        finally { Remove-Item $scriptFile -ErrorAction SilentlyContinue }
        $result = @{}
        foreach ($line in $lines) { $k, $v = "$line".Split('=', 2); $result[$k] = $v }
        $result.Count | Should -BeGreaterOrEqual 10 -Because ($lines | Out-String)
        foreach ($cmd in 'Stop-MigrationBatch', 'Complete-MigrationBatch', 'Remove-MigrationBatch', 'Remove-MigrationUser', 'Remove-MigrationEndpoint') {
            $result[$cmd] | Should -Be 'prompted' -Because "$cmd has ConfirmImpact High; child said: $($lines -join ' | ')"
        }
        $result['Stop-MigrationBatch-NoConfirm'] | Should -Be 'ran'
        $result['Start-MigrationBatch'] | Should -Be 'ran'
        $result['New-MigrationBatch'] | Should -Be 'ran'
        $result['Set-MigrationBatch'] | Should -Be 'ran'
        $result['Start-MigrationBatch-Confirm'] | Should -Be 'prompted'
    }
}

Describe 'Parameters of other migration types' {
    BeforeEach {
        $global:MigCalls.Clear()
        Mock -ModuleName ImapMigration Invoke-MigNative $FakeNative
    }

    It '<Command> -<Parameter> is refused with UnsupportedParameter naming the parameter' -ForEach @(
        @{ Command = 'New-MigrationBatch'; Parameter = 'AutoComplete'; Script = { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -AutoComplete } }
        @{ Command = 'New-MigrationBatch'; Parameter = 'TargetDeliveryDomain'; Script = { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -TargetDeliveryDomain contoso.mail.onmicrosoft.com } }
        @{ Command = 'New-MigrationBatch'; Parameter = 'XMLData'; Script = { New-MigrationBatch -Name B -XMLData ([byte[]](60)) } }
        @{ Command = 'New-MigrationBatch'; Parameter = 'Local'; Script = { New-MigrationBatch -Name B -Local -CSVData ([byte[]](65)) } }
        @{ Command = 'New-MigrationBatch'; Parameter = 'SkipCalendar'; Script = { New-MigrationBatch -Name B -SourceEndpoint E -CSVData ([byte[]](65)) -SkipCalendar } }
        @{ Command = 'Set-MigrationBatch'; Parameter = 'MoveOptions'; Script = { Set-MigrationBatch -Identity B -MoveOptions SkipFolderACLs } }
        @{ Command = 'Set-MigrationBatch'; Parameter = 'SkipMoving'; Script = { Set-MigrationBatch -Identity B -SkipMoving x } }
        @{ Command = 'Complete-MigrationBatch'; Parameter = 'SyncAndComplete'; Script = { Complete-MigrationBatch -Identity B -SyncAndComplete -Confirm:$false } }
        @{ Command = 'New-MigrationEndpoint'; Parameter = 'ExchangeRemoteMove'; Script = { New-MigrationEndpoint -ExchangeRemoteMove -Name E -RemoteServer s } }
        @{ Command = 'New-MigrationEndpoint'; Parameter = 'Gmail'; Script = { New-MigrationEndpoint -Gmail -Name E } }
        @{ Command = 'New-MigrationEndpoint'; Parameter = 'TestMailbox'; Script = { New-MigrationEndpoint -IMAP -Name E -RemoteServer s -TestMailbox m } }
        @{ Command = 'New-MigrationEndpoint'; Parameter = 'ServiceAccountKeyFileData'; Script = { New-MigrationEndpoint -IMAP -Name E -RemoteServer s -ServiceAccountKeyFileData ([byte[]](1)) } }
        @{ Command = 'Set-MigrationEndpoint'; Parameter = 'EmailAddress'; Script = { Set-MigrationEndpoint -Identity E -EmailAddress a@b.c } }
        @{ Command = 'Test-MigrationServerAvailability'; Parameter = 'Credentials'; Script = { Test-MigrationServerAvailability -Imap -RemoteServer s -Port 993 -Credentials ([pscredential]::new('a', (ConvertTo-SecureString 'p' -AsPlainText -Force))) } }
        @{ Command = 'Test-MigrationServerAvailability'; Parameter = 'ExchangeRemoteMove'; Script = { Test-MigrationServerAvailability -ExchangeRemoteMove -RemoteServer s } }
    ) {
        $err = $null
        try { & $Script -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be "UnsupportedParameter,$Command"
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match "-$Parameter\b"
        $err.Exception.Message | Should -Match 'not supported for IMAP migrations'
        $err.TargetObject | Should -Be $Parameter
        $global:MigCalls.Count | Should -Be 0
    }

    It 'accepts the documented extensions: New-MigrationBatch -TargetEndpoint, New/Set-MigrationEndpoint -Credentials' {
        $cred = [pscredential]::new('admin', (ConvertTo-SecureString 'p' -AsPlainText -Force))
        { New-MigrationBatch -Name B -SourceEndpoint E -TargetEndpoint T -CSVData ([byte[]](65)) } | Should -Not -Throw
        { New-MigrationEndpoint -IMAP -Name T -RemoteServer s -Credentials $cred } | Should -Not -Throw
        { Set-MigrationEndpoint -Identity T -Credentials $cred } | Should -Not -Throw
        $global:MigCalls.Count | Should -Be 3
    }

    It 'accepts and ignores -Partition everywhere' {
        $null = Get-MigrationBatch -Partition x
        Start-MigrationBatch -Identity B -Partition x
        $null = Get-MigrationConfig -Partition x
        $global:MigCalls | ForEach-Object { $_.Arguments.Keys | Should -Not -Contain 'partition' }
    }
}

Describe 'Output objects' {
    BeforeAll {
        Mock -ModuleName ImapMigration Invoke-MigNative $FakeNative
        $script:b = Get-MigrationBatch -Identity UJV1
        $script:u = Get-MigrationUser -BatchId UJV1
    }

    Context 'Status idioms (docs/compatibility.md section 12.2)' {
        It '$b.Status -eq ''Synced'' and ''Synced'' -eq $b.Status' {
            $b.Status -eq 'Synced' | Should -BeTrue
            'Synced' -eq $b.Status | Should -BeTrue
            $b.Status -eq 'synced' | Should -BeTrue
            $b.Status -ne 'Failed' | Should -BeTrue
            $b.Status -eq 'Syncing' | Should -BeFalse
        }
        It '.Status.Value -in @(...)' {
            $b.Status.Value | Should -BeOfType [string]
            $b.Status.Value | Should -Be 'Synced'
            $b.Status.Value -in @('Completed', 'CompletedWithErrors', 'Stopped', 'Failed', 'SyncedWithErrors') | Should -BeFalse
            $b.Status.Value -in @('Synced', 'Syncing') | Should -BeTrue
            $b.Status -in 'Synced', 'SyncedWithErrors', 'Failed' | Should -BeTrue
        }
        It '-like ''Sync*'' and Where-Object {$_.Status -like ...}' {
            $b.Status -like 'Sync*' | Should -BeTrue
            $b.Status -like 'Stopped' | Should -BeFalse
            @($b | Where-Object { $_.Status -like 'Synced' }).Count | Should -Be 1
        }
        It 'switch ($b.Status)' {
            $r = switch ($b.Status) { 'Syncing' { 'no' } 'Synced' { 'yes' } default { 'default' } }
            $r | Should -Be 'yes'
        }
        It 'Where-Object Status -eq Synced' {
            @($b | Where-Object Status -eq Synced).Count | Should -Be 1
            @($u | Where-Object Status -eq Failed).Count | Should -Be 1
        }
        It 'users: $_.Status -in @("Synced","Syncing")' {
            @($u | Where-Object { $_.Status -in @('Synced', 'Syncing') }).Count | Should -Be 1
        }
        It 'Sort-Object Status uses the Exchange enum order' {
            $objects = 'Synced', 'Created', 'Failed', 'Syncing' | ForEach-Object {
                [pscustomobject]@{ Status = [ImapMigration.MigrationBatchStatus]::new($_) }
            }
            ($objects | Sort-Object Status).Status.Value | Should -Be @('Created', 'Syncing', 'Failed', 'Synced')
        }
        It 'Format-List Status prints the name' {
            ($b | Format-List Status | Out-String) | Should -Match 'Status\s*:\s*Synced'
            "$($b.Status)" | Should -Be 'Synced'
            $b.Status.ToString() | Should -Be 'Synced'
        }
    }

    Context 'Identity idioms' {
        It '$b.Identity.Id, .Name, .ToString(), interpolation' {
            $b.Identity.Id | Should -Be 'UJV1'
            $b.Identity.Name | Should -Be 'UJV1'
            $b.Identity.JobId | Should -Be ([guid]'0d5c3a4e-1f2b-4c6d-8e9f-a0b1c2d3e4f5')
            $b.Identity.ToString() | Should -Be 'UJV1'
            "$($b.Identity)" | Should -Be 'UJV1'
            $b.BatchGuid | Should -Be '0d5c3a4e-1f2b-4c6d-8e9f-a0b1c2d3e4f5'
        }
        It '$_.Identity -like "UJV*"' {
            @($b | Where-Object { $_.Identity -like 'UJV*' }).Count | Should -Be 1
            $b.Identity -eq 'UJV1' | Should -BeTrue
        }
        It '$b.SourceEndpoint.Identity.Id' {
            $b.SourceEndpoint.Identity.Id | Should -Be 'IMAPonpremises'
            $b.SourceEndpoint.PSObject.TypeNames[0] | Should -Be 'ImapMigration.MigrationEndpoint'
        }
        It 'user Identity prints the email address, BatchId the batch' {
            "$($u[0].Identity)" | Should -Be 'laura@contoso.com'
            $u[0].Identity.JobItemGuid | Should -Be ([guid]'9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d')
            "$($u[0].BatchId)" | Should -Be 'UJV1'
        }
        It 'Get-MigrationBatch $b.Identity.Id round-trips' {
            $global:MigCalls.Clear()
            $null = Get-MigrationBatch $b.Identity.Id
            $global:MigCalls[0].Arguments.identity | Should -Be 'UJV1'
        }
    }

    Context 'dates and formatting' {
        It 'dates are UTC DateTimes, missing dates are $null' {
            $b.CreationDateTime | Should -BeOfType [datetime]
            $b.CreationDateTime.Kind | Should -Be 'Utc'
            $b.CreationDateTime | Should -Be ([datetime]::new(2026, 11, 26, 16, 34, 7, [System.DateTimeKind]::Utc))
            $b.FinalizedDateTime | Should -BeNullOrEmpty
            $b.StartAfter | Should -BeNullOrEmpty
            $u[0].LastSuccessfulSyncTime.Kind | Should -Be 'Utc'
            $b.Reports[0].CreationTimeUTC | Should -BeOfType [datetime]
        }
        It 'the Exchange counters are there for Select-Object' {
            $row = $b | Select-Object Identity, Status, State, CreationDateTime, BadItemLimit, TotalCount, ActiveCount, StoppedCount, SyncedCount, FinalizedCount, FailedCount, FailedInitialSyncCount, FailedIncrementalSyncCount, CompletedWithWarningCount
            $row.TotalCount | Should -Be 3
            $row.BadItemLimit | Should -Be 'Unlimited'
            $b.MigrationType.ToString() -eq 'IMAP' | Should -BeTrue
        }
        It 'the default view is a table with Identity Status Type TotalCount' {
            $text = $b | Out-String
            $text | Should -Match 'Identity\s+Status\s+Type\s+TotalCount'
            $text | Should -Match 'UJV1\s+Synced\s+IMAP\s+3'
        }
        It 'the user view shows Identity Batch Status LastSyncTime' {
            ($u | Out-String) | Should -Match 'Identity\s+Batch\s+Status\s+LastSyncTime'
        }
        It 'Format-List shows every property' {
            $text = $b | Format-List | Out-String
            foreach ($p in 'BatchDirection', 'SourceEndpoint', 'ValidationWarningCount', 'LastSyncedDateTime', 'TargetMaildir') {
                $text | Should -Match "(?m)^$p\s*:"
            }
        }
        It 'endpoint objects carry no secret' {
            $ep = Get-MigrationEndpoint
            $ep.PSObject.Properties.Name | Should -Not -Contain 'Password'
            $ep.PSObject.Properties.Name | Should -Not -Contain 'Credentials'
        }
    }
}
