#Requires -Version 7.4
# End to end through the real library, the real worker and a throwaway Dovecot started by the
# testkit binary: the documented Exchange flow, polled the way admins poll. Needs
# IMAPMIGRATION_NATIVE_DIR (the staged libimapmigration + imapmigration worker) and
# IMAPMIGRATION_TESTKIT (the imapmig-testkit binary); scripts/test sets both.

BeforeDiscovery {
    $script:SkipReason = $null
    $libName = if ($IsWindows) { 'imapmigration.dll' } elseif ($IsMacOS) { 'libimapmigration.dylib' } else { 'libimapmigration.so' }
    if (-not $env:IMAPMIGRATION_NATIVE_DIR) {
        $SkipReason = 'IMAPMIGRATION_NATIVE_DIR is not set (run scripts/test, which builds and stages the native library)'
    }
    elseif (-not (Test-Path (Join-Path $env:IMAPMIGRATION_NATIVE_DIR $libName))) {
        $SkipReason = "the native library $libName is missing in IMAPMIGRATION_NATIVE_DIR ($env:IMAPMIGRATION_NATIVE_DIR)"
    }
    elseif (-not $env:IMAPMIGRATION_TESTKIT -or -not (Test-Path $env:IMAPMIGRATION_TESTKIT)) {
        $SkipReason = 'IMAPMIGRATION_TESTKIT does not name the imapmig-testkit binary'
    }
    $script:Skip = [bool]$SkipReason
}

Describe 'Integration prerequisites' {
    It 'has the native library, the worker and the testkit' {
        # scripts/test (and so CI) requires this suite: there a missing prerequisite is a failure,
        # not a skip that would hide that the end-to-end flow never ran.
        if ($SkipReason -and $env:IMAPMIGRATION_REQUIRE_INTEGRATION -eq '1') { throw "integration prerequisites missing: $SkipReason" }
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    } -TestCases @{ SkipReason = $SkipReason }
}

Describe 'IMAP migration end to end' -Skip:$Skip {
    BeforeAll {
        $script:RepoRoot = Split-Path $PSScriptRoot -Parent
        $script:Manifest = Join-Path $RepoRoot 'ImapMigration.psd1'
        $script:Testkit = $env:IMAPMIGRATION_TESTKIT
        $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) "imapmig-pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $null = New-Item -ItemType Directory -Path $Work
        # Dovecot drops privileges; its directory must be reachable.
        if (-not $IsWindows) { chmod 755 $Work }
        $script:PreviousHome = $env:IMAPMIGRATION_HOME
        $env:IMAPMIGRATION_HOME = Join-Path $Work 'state'

        $script:Users = [ordered]@{ alice = 'alice-pester-pw'; bob = 'bob-pester-pw' }
        # dora is migrated alone, over a slow link, by the worker-recovery context.
        $script:Dora = @{ dora = 'dora-pester-pw' }
        $userSpec = ($Users.Keys + $Dora.Keys | ForEach-Object { "$($_):$($Users[$_] ?? $Dora[$_])" }) -join ','
        $script:Server = & $Testkit start --dir (Join-Path $Work 'dovecot') --users $userSpec --json | Out-String | ConvertFrom-Json
        if ($LASTEXITCODE -ne 0 -or -not $Server.imapsPort) { throw "imapmig-testkit start failed (exit $LASTEXITCODE)" }
        foreach ($u in @($Users.Keys) + @($Dora.Keys)) {
            $null = & $Testkit seed --dir (Join-Path $Work 'dovecot') --user $u --profile small
            if ($LASTEXITCODE -ne 0) { throw "imapmig-testkit seed failed for $u" }
        }

        function Get-SourceSnapshot([string]$User) {
            & $Testkit snapshot --dir (Join-Path $Work 'dovecot') --user $User | Out-String | ConvertFrom-Json -AsHashtable
        }
        # The target Maildir++ read back the same way the testkit reads the source: per message,
        # SHA-256 of the bytes with bare LF turned into CRLF.
        function Get-MaildirHashes([string]$Root) {
            $sha = [System.Security.Cryptography.SHA256]::Create()
            $dirs = @(Get-Item $Root) + @(Get-ChildItem $Root -Directory | Where-Object Name -like '.*')
            foreach ($d in $dirs) {
                foreach ($sub in 'cur', 'new') {
                    $p = Join-Path $d.FullName $sub
                    if (-not (Test-Path $p)) { continue }
                    foreach ($f in Get-ChildItem $p -File) {
                        $text = [System.IO.File]::ReadAllBytes($f.FullName)
                        $crlf = [System.Collections.Generic.List[byte]]::new($text.Length + 64)
                        for ($i = 0; $i -lt $text.Length; $i++) {
                            if ($text[$i] -eq 10 -and ($i -eq 0 -or $text[$i - 1] -ne 13)) { $crlf.Add(13) }
                            $crlf.Add($text[$i])
                        }
                        [System.Convert]::ToHexString($sha.ComputeHash($crlf.ToArray())).ToLowerInvariant()
                    }
                }
            }
        }

        $script:Csv = Join-Path $Work 'IMAPmigration_1.csv'
        $rows = foreach ($u in $Users.Keys) { "$u@contoso.test,$u,$($Users[$u])" }
        Set-Content -Path $Csv -Value (@('EmailAddress,UserName,Password') + $rows) -Encoding utf8NoBOM

        Get-Module ImapMigration | Remove-Module -Force
        Import-Module $Manifest -Force
    }

    AfterAll {
        Get-MigrationBatch -ErrorAction SilentlyContinue | Remove-MigrationBatch -Confirm:$false -ErrorAction SilentlyContinue
        # The worker outlives sessions by design; end the one this run started.
        # (.NET cannot read worker.lock while the worker holds its flock: ask the library.)
        $status = InModuleScope ImapMigration { Invoke-MigNative -Operation 'worker.status' }
        if ($status.Running -and $status.Pid) { Stop-Process -Id $status.Pid -ErrorAction SilentlyContinue }
        if ($script:SlowLink) { Stop-Process -Id $SlowLink.Id -Force -ErrorAction SilentlyContinue }
        if ($Testkit -and $Work) { $null = & $Testkit stop --dir (Join-Path $Work 'dovecot') 2>&1 }
        $env:IMAPMIGRATION_HOME = $PreviousHome
        if ($Work -and (Test-Path $Work)) { Remove-Item -Recurse -Force $Work -ErrorAction SilentlyContinue }
    }

    It 'maps every error code the library reports to a category and an error id' {
        # The library lists its codes (native/core/src/error_code.rs); the module's table must
        # cover each, or a new code would reach admins as NotSpecified.
        $version = InModuleScope ImapMigration { Invoke-MigNative -Operation 'system.version' }
        $codes = @($version.ErrorCodes)
        $codes | Should -Contain 'NotFound'
        $codes | Should -Contain 'Panic'
        $codes.Count | Should -Be 15
        $moduleOnly = 'UnsupportedParameter', 'NativeLibraryNotFound', 'NativeLibraryLoadFailed'
        $table = InModuleScope ImapMigration { $script:ErrorCategoryByCode }
        foreach ($key in $table.Keys) {
            ($key -in $codes -or $key -in $moduleOnly) | Should -BeTrue -Because "the table's $key is a code of the library or of the module"
        }
        foreach ($code in $codes) {
            $table.ContainsKey($code) | Should -BeTrue -Because "$code needs an entry in ErrorCategoryByCode"
            $table[$code] | Should -Not -Be ([System.Management.Automation.ErrorCategory]::NotSpecified) -Because "$code has a category of its own"
            $record = InModuleScope ImapMigration -Parameters @{ Code = $code } {
                param($Code)
                New-MigErrorRecord -Code $Code -Message "the library says $Code"
            }
            $record.FullyQualifiedErrorId | Should -Match "^$code(,|$)" -Because "the id of a $code error starts with the code"
            $record.CategoryInfo.Category | Should -Be $table[$code]
            $record.Exception.Code | Should -Be $code
        }
    }

    It 'Test-MigrationServerAvailability reaches the server' {
        $r = Test-MigrationServerAvailability -IMAP -RemoteServer 127.0.0.1 -Port $Server.imapsPort -Security Ssl -AcceptUntrustedCertificates
        $r.Result | Should -Be 'Success'
    }

    It 'creates the IMAP endpoint' {
        $ep = New-MigrationEndpoint -IMAP -Name IMAPonpremises -RemoteServer 127.0.0.1 -Port $Server.imapsPort -Security Ssl -AcceptUntrustedCertificates -ErrorAction Stop
        $ep.EndpointType | Should -Be 'IMAP'
        $ep.Identity.Id | Should -Be 'IMAPonpremises'
        (Get-MigrationEndpoint IMAPonpremises | Format-List EndpointType, RemoteServer, Port, Security, Max* | Out-String) | Should -Match 'MaxConcurrentMigrations'
    }

    It 'keeps -VerifyContent (extension) with the endpoint and shows it in Get-MigrationEndpoint' {
        try {
            $ep = New-MigrationEndpoint -IMAP -Name VerifiedTarget -RemoteServer 127.0.0.1 -Port $Server.imapsPort -SkipVerification -VerifyContent -ErrorAction Stop
            $ep.VerifyContent | Should -BeTrue
            (Get-MigrationEndpoint VerifiedTarget).VerifyContent | Should -BeTrue
            (Get-MigrationEndpoint IMAPonpremises).VerifyContent | Should -BeFalse
            Set-MigrationEndpoint VerifiedTarget -VerifyContent $false -ErrorAction Stop
            (Get-MigrationEndpoint VerifiedTarget).VerifyContent | Should -BeFalse
            Set-MigrationEndpoint VerifiedTarget -VerifyContent $true -ErrorAction Stop
            (Get-MigrationEndpoint VerifiedTarget | Format-List VerifyContent | Out-String) | Should -Match 'VerifyContent\s*:\s*True'
        }
        finally {
            Remove-MigrationEndpoint VerifiedTarget -Confirm:$false -ErrorAction SilentlyContinue
        }
    }

    It 'refuses a duplicate endpoint name with AlreadyExists' {
        { New-MigrationEndpoint -IMAP -Name IMAPonpremises -RemoteServer 127.0.0.1 -Port $Server.imapsPort -SkipVerification -ErrorAction Stop } |
            Should -Throw -ErrorId 'AlreadyExists,New-MigrationEndpoint'
    }

    It 'Set-MigrationConfig -MaildirRoot is where new batches without a target write, and $null reverts it' {
        { Set-MigrationConfig -MaildirRoot 'relative/maildir' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,Set-MigrationConfig' -ExpectedMessage '*(-MaildirRoot) is not an absolute path*'
        $shared = Join-Path $Work 'shared-maildir'
        Set-MigrationConfig -MaildirRoot "$shared/"
        (Get-MigrationConfig).MaildirRoot | Should -Be $shared
        $data = [System.Text.Encoding]::UTF8.GetBytes("EmailAddress,UserName,Password`r`nerin@contoso.test,erin,pw`r`n")
        try {
            (New-MigrationBatch -Name SharedRoot -SourceEndpoint IMAPonpremises -CSVData $data -ErrorAction Stop).TargetMaildir |
                Should -Be $shared
        }
        finally {
            Remove-MigrationBatch -Identity SharedRoot -Confirm:$false -ErrorAction SilentlyContinue
            Set-MigrationConfig -MaildirRoot $null
        }
        (Get-MigrationConfig).MaildirRoot | Should -Be (Join-Path $env:IMAPMIGRATION_HOME 'maildir')
    }

    Context 'bad CSV data creates nothing' {
        It 'refuses <Case> with CsvInvalid' -ForEach @(
            @{ Case = 'a missing required column'; Text = "EmailAddress,UserName`r`nalice@contoso.test,alice`r`n" }
            @{ Case = 'a file that is not text'; Bytes = [byte[]](0, 159, 146, 150, 0, 255, 254, 0, 1, 2) }
            @{ Case = 'an unknown column'; Text = "EmailAddress,UserName,Password,Colour`r`nalice@contoso.test,alice,pw,blue`r`n" }
        ) {
            $data = if ($Bytes) { $Bytes } else { [System.Text.Encoding]::UTF8.GetBytes($Text) }
            { New-MigrationBatch -Name BadCsv -SourceEndpoint IMAPonpremises -CSVData $data -ErrorAction Stop } |
                Should -Throw -ErrorId 'CsvInvalid,New-MigrationBatch'
            Get-MigrationBatch -Identity BadCsv -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }

        It 'accepts an unknown column with -AllowUnknownColumnsInCsv $true (then removes the batch)' {
            $data = [System.Text.Encoding]::UTF8.GetBytes("EmailAddress,UserName,Password,Colour`r`ncarol@contoso.test,carol,pw,blue`r`n")
            $b = New-MigrationBatch -Name UnknownColumnOk -SourceEndpoint IMAPonpremises -CSVData $data -AllowUnknownColumnsInCsv $true -ErrorAction Stop
            $b.Status -eq 'Stopped' | Should -BeTrue
            Remove-MigrationBatch -Identity UnknownColumnOk -Confirm:$false -ErrorAction Stop
        }

        It 'refuses an unknown -SourceEndpoint with NotFound' {
            { New-MigrationBatch -Name NoEndpoint -SourceEndpoint NoSuchEndpoint -CSVData ([System.IO.File]::ReadAllBytes($Csv)) -ErrorAction Stop } |
                Should -Throw -ErrorId 'NotFound,New-MigrationBatch'
            Get-MigrationBatch -Identity NoEndpoint -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }
    }

    Context 'the documented flow' {
        BeforeAll {
            $script:Batch = New-MigrationBatch -Name IMAPImport -SourceEndpoint IMAPonpremises -CSVData ([System.IO.File]::ReadAllBytes($Csv)) -AutoStart -ErrorAction Stop
            $deadline = (Get-Date).AddSeconds(120)
            do {
                Start-Sleep -Seconds 1
                $b = Get-MigrationBatch -Identity IMAPImport
            } until ($b.Status -in 'Synced', 'SyncedWithErrors', 'Failed' -or (Get-Date) -gt $deadline)
            $script:Final = $b
        }

        It 'returns the new batch' {
            $Batch.Identity.Name | Should -Be 'IMAPImport'
            $Batch.TotalCount | Should -Be $Users.Count
        }

        It 'reaches Synced' {
            $Final.Status -eq 'Synced' | Should -BeTrue -Because "the batch ended $($Final.Status): $($Final.Message)"
            $Final.Status.Value | Should -Be 'Synced'
            (Get-MigrationBatch -Identity IMAPImport | Format-List Status | Out-String) | Should -Match 'Synced'
            $Final.TotalCount | Should -Be $Users.Count
            $Final.SyncedCount | Should -Be $Users.Count
        }

        It 'reports per-user SyncedItemCount equal to the seeded message count' {
            $stats = @(Get-MigrationUser -BatchId IMAPImport | Get-MigrationUserStatistics)
            $stats.Count | Should -Be $Users.Count
            foreach ($s in $stats) {
                $user = "$($s.Identity)".Split('@')[0]
                $source = Get-SourceSnapshot $user
                $seeded = ($source.Values | ForEach-Object { @($_).Count } | Measure-Object -Sum).Sum
                $seeded | Should -BeGreaterThan 0
                $s.SyncedItemCount | Should -Be $seeded -Because "$user has $seeded messages on the source"
                $s.Status -eq 'Synced' | Should -BeTrue
            }
        }

        It 'copies the same messages, flags and dates into the local Maildir store under the state directory' {
            foreach ($user in $Users.Keys) {
                $root = Join-Path $env:IMAPMIGRATION_HOME "maildir/$user@contoso.test"
                $root | Should -Exist
                # Both sides read by the testkit the same way: per folder, per message the SHA-256
                # of the body as IMAP serves it, its flags and its INTERNALDATE.
                $source = Get-SourceSnapshot $user
                $target = & $Testkit snapshot --maildir $root | Out-String | ConvertFrom-Json -AsHashtable
                $render = {
                    param($snap)
                    @($snap.GetEnumerator() | Where-Object { @($_.Value).Count -gt 0 } | Sort-Object Key | ForEach-Object {
                        $folder = $_.Key
                        @($_.Value) | ForEach-Object { '{0}|{1}|{2}|{3}' -f $folder, $_.sha256, (@($_.flags) -join ' '), $_.internalDate }
                    })
                }
                $expected = & $render $source
                $actual = & $render $target
                $expected.Count | Should -BeGreaterThan 0
                $actual.Count | Should -Be $expected.Count
                ($actual -join "`n") | Should -Be ($expected -join "`n")
            }
        }

        It 'is seen as Synced from a new pwsh process (the worker outlives the session)' {
            $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
            if (-not $pwsh) { $pwsh = Join-Path $PSHOME $(if ($IsWindows) { 'pwsh.exe' } else { 'pwsh' }) }
            $status = & $pwsh -NoProfile -NonInteractive -c "Import-Module '$Manifest'; (Get-MigrationBatch -Identity IMAPImport).Status.Value"
            "$status".Trim() | Should -Be 'Synced'
        }

        It 'refuses a second batch with the same name (AlreadyExists)' {
            { New-MigrationBatch -Name IMAPImport -SourceEndpoint IMAPonpremises -CSVData ([System.IO.File]::ReadAllBytes($Csv)) -ErrorAction Stop } |
                Should -Throw -ErrorId 'AlreadyExists,New-MigrationBatch'
        }

        It 'moves the users to a retry batch with -Users, and their next pass copies nothing again' {
            $before = @{}
            Get-MigrationUser -BatchId IMAPImport | ForEach-Object { $before["$($_.Identity)"] = [long]$_.SyncedItemCount }
            $r = New-MigrationBatch -Name Retry -Users (Get-MigrationUser -BatchId IMAPImport) -AutoStart -ErrorAction Stop
            $r.Status -in 'Starting', 'Syncing' | Should -BeTrue
            $r.TotalCount | Should -Be $Users.Count
            $deadline = (Get-Date).AddSeconds(120)
            do {
                Start-Sleep -Seconds 1
                $b = Get-MigrationBatch -Identity Retry
            } until ($b.Status -in 'Synced', 'SyncedWithErrors', 'Failed' -or (Get-Date) -gt $deadline)
            "$($b.Status)" | Should -Be 'Synced'
            @(Get-MigrationUser -BatchId IMAPImport).Count | Should -Be 0
            foreach ($u in Get-MigrationUser -BatchId Retry) {
                [long]$u.SyncedItemCount | Should -Be $before["$($u.Identity)"]
                $s = Get-MigrationUserStatistics -Identity "$($u.Identity)" -IncludeReport
                ($s.Report.Message -join "`n") | Should -Match 'pass 2 finished: 0 copied'
            }
            Remove-MigrationBatch -Identity Retry -Confirm:$false -ErrorAction Stop
        }

        It 'removes the batch with Remove-MigrationBatch -Confirm:$false' {
            Remove-MigrationBatch -Identity IMAPImport -Confirm:$false -ErrorAction Stop
            $deadline = (Get-Date).AddSeconds(30)
            do {
                $left = Get-MigrationBatch -Identity IMAPImport -ErrorAction SilentlyContinue
                if ($left -and $left.Status -eq 'Removing') { Start-Sleep -Milliseconds 500 }
            } while ($left -and (Get-Date) -lt $deadline)
            $left | Should -BeNullOrEmpty
        }
    }

    Context 'a killed worker' {
        BeforeAll {
            # A link that delays every chunk by 150 ms each way, so the pass is still running
            # when the worker is killed.
            $out = Join-Path $Work 'slow-link.json'
            $script:SlowLink = Start-Process -FilePath $Testkit -PassThru -RedirectStandardOutput $out `
                -ArgumentList @('proxy', 'delay', '--upstream', "127.0.0.1:$($Server.imapPort)", '--ms', '150')
            $deadline = (Get-Date).AddSeconds(20)
            while (-not (Test-Path $out) -or -not (Get-Content $out -Raw)) {
                if ((Get-Date) -gt $deadline) { throw 'the delay proxy did not report its port' }
                Start-Sleep -Milliseconds 100
            }
            $script:SlowPort = (Get-Content $out -Raw | ConvertFrom-Json).port
            $null = New-MigrationEndpoint -IMAP -Name SlowLink -RemoteServer 127.0.0.1 -Port $SlowPort -Security None -ErrorAction Stop
        }

        It 'Get-MigrationBatch warns that it started a worker, and the batch finishes with every message' {
            $csv = [System.Text.Encoding]::UTF8.GetBytes("EmailAddress,UserName,Password`ndora@contoso.test,dora,$($Dora.dora)`n")
            $null = New-MigrationBatch -Name KillWorker -SourceEndpoint SlowLink -CSVData $csv -AutoStart -ErrorAction Stop
            $deadline = (Get-Date).AddSeconds(60)
            while ((Get-MigrationUser -Identity dora@contoso.test).Status -ne 'Syncing') {
                if ((Get-Date) -gt $deadline) { throw 'dora never started syncing' }
                Start-Sleep -Milliseconds 50
            }
            $worker = InModuleScope ImapMigration { Invoke-MigNative -Operation 'worker.status' }
            $worker.Running | Should -BeTrue
            Stop-Process -Id $worker.Pid -Force   # SIGKILL: no clean shutdown
            $deadline = (Get-Date).AddSeconds(10)
            while ((InModuleScope ImapMigration { Invoke-MigNative -Operation 'worker.status' }).Running) {
                if ((Get-Date) -gt $deadline) { throw 'the killed worker still holds the lock' }
                Start-Sleep -Milliseconds 50
            }

            # The first cmdlet after the kill notices the batch has no worker.
            $b = Get-MigrationBatch -Identity KillWorker -WarningVariable warned -WarningAction SilentlyContinue
            $b.Status -eq 'Synced' | Should -BeFalse -Because 'the worker was killed mid-pass'
            ($warned -join "`n") | Should -Match ('no worker was running .*pid ' + $worker.Pid + '.*started one \(pid \d+\) to resume the batch\(es\) KillWorker')
            $b.Identity.Name | Should -Be 'KillWorker'
            $now = InModuleScope ImapMigration { Invoke-MigNative -Operation 'worker.status' }
            $now.Running | Should -BeTrue
            $now.Pid | Should -Not -Be $worker.Pid
            $null = Get-MigrationBatch -Identity KillWorker -WarningVariable again -WarningAction SilentlyContinue
            $again | Should -BeNullOrEmpty -Because 'the worker runs again'
            $workers = @((Get-MigrationConfig).Workers)
            $workers.Count | Should -Be 1
            $workers[0].Pid | Should -Be $now.Pid
            $workers[0].Alive | Should -BeTrue

            $deadline = (Get-Date).AddSeconds(120)
            do {
                Start-Sleep -Milliseconds 500
                $b = Get-MigrationBatch -Identity KillWorker
            } until ($b.Status -in 'Synced', 'SyncedWithErrors', 'Failed' -or (Get-Date) -gt $deadline)
            "$($b.Status)" | Should -Be 'Synced'
            $source = Get-SourceSnapshot dora
            $target = & $Testkit snapshot --maildir (Join-Path $env:IMAPMIGRATION_HOME 'maildir/dora@contoso.test') | Out-String | ConvertFrom-Json -AsHashtable
            $render = {
                param($snap)
                @($snap.GetEnumerator() | Where-Object { @($_.Value).Count -gt 0 } | Sort-Object Key | ForEach-Object {
                    $folder = $_.Key
                    @($_.Value) | ForEach-Object { '{0}|{1}|{2}|{3}' -f $folder, $_.sha256, (@($_.flags) -join ' '), $_.internalDate }
                })
            }
            $expected = & $render $source
            $actual = & $render $target
            $expected.Count | Should -BeGreaterThan 0
            ($actual -join "`n") | Should -Be ($expected -join "`n") -Because 'no message is missing or duplicated'
            Remove-MigrationBatch -Identity KillWorker -Confirm:$false -ErrorAction Stop
        }
    }
}
