#Requires -Version 7.4
# Module hygiene: manifest, exports, help, ShouldProcess and the Exchange parameter surface
# (tests/fixtures/cmdlet-parameters.json, the surface docs/compatibility.md sections 2 to 6 describes).

BeforeDiscovery {
    $script:ExpectedCmdlets = @(
        'New-MigrationEndpoint', 'Get-MigrationEndpoint', 'Set-MigrationEndpoint', 'Remove-MigrationEndpoint',
        'Test-MigrationServerAvailability', 'New-MigrationBatch', 'Get-MigrationBatch', 'Set-MigrationBatch',
        'Start-MigrationBatch', 'Stop-MigrationBatch', 'Complete-MigrationBatch', 'Remove-MigrationBatch',
        'Get-MigrationUser', 'Get-MigrationUserStatistics', 'Set-MigrationUser', 'Start-MigrationUser',
        'Stop-MigrationUser', 'Remove-MigrationUser', 'Get-MigrationStatistics', 'Get-MigrationConfig', 'Set-MigrationConfig',
        'Open-MigrationConsole'
    )
    $script:CmdletCases = $ExpectedCmdlets | ForEach-Object { @{ Name = $_ } }
    $script:StateChangingCases = $ExpectedCmdlets | Where-Object { $_ -notlike 'Get-*' } | ForEach-Object { @{ Name = $_ } }
    $script:HighImpactCases = $ExpectedCmdlets | Where-Object { $_ -match '^(Stop|Complete|Remove)-' } | ForEach-Object { @{ Name = $_ } }
    $script:LowerImpactCases = $ExpectedCmdlets | Where-Object { $_ -match '^(New|Set|Start|Test)-' } | ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    $script:RepoRoot = Split-Path $PSScriptRoot -Parent
    $script:ManifestPath = Join-Path $RepoRoot 'ImapMigration.psd1'
    Get-Module ImapMigration, ImapMigration.ExchangeShim | Remove-Module -Force
    Import-Module $ManifestPath -Force
    $script:Reference = Get-Content (Join-Path $PSScriptRoot 'fixtures/cmdlet-parameters.json') -Raw | ConvertFrom-Json -AsHashtable
    $script:CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

    function Get-ParameterSurface {
        # The parameter surface of a command in the fixture's shape.
        param([System.Management.Automation.CommandInfo]$Command)
        $surface = [ordered]@{}
        foreach ($p in $Command.Parameters.Values | Where-Object { $_.Name -notin $CommonParameters } | Sort-Object Name) {
            $sets = [ordered]@{}
            foreach ($setName in $p.ParameterSets.Keys | Sort-Object) {
                $meta = $p.ParameterSets[$setName]
                $flags = [ordered]@{}
                if ($meta.IsMandatory) { $flags['mandatory'] = $true }
                if ($meta.Position -ne [int]::MinValue) { $flags['position'] = $meta.Position }
                if ($meta.ValueFromPipeline) { $flags['pipeline'] = $true }
                if ($meta.ValueFromPipelineByPropertyName) { $flags['pipelineByPropertyName'] = $true }
                $sets[$(if ($setName -eq '__AllParameterSets') { '*' } else { $setName })] = $flags
            }
            $surface[$p.Name] = [ordered]@{ type = $p.ParameterType.Name; sets = $sets }
        }
        $surface
    }

    function Get-ReferenceSurface {
        param([string]$Name)
        $surface = [ordered]@{}
        $parameters = $Reference.cmdlets[$Name].parameters
        foreach ($pname in $parameters.Keys | Sort-Object) {
            $sets = [ordered]@{}
            foreach ($setName in $parameters[$pname].sets.Keys | Sort-Object) {
                $src = $parameters[$pname].sets[$setName]
                $flags = [ordered]@{}
                foreach ($flag in 'mandatory', 'position', 'pipeline', 'pipelineByPropertyName') {
                    if ($src.ContainsKey($flag) -and $null -ne $src[$flag] -and -not ($src[$flag] -is [bool] -and -not $src[$flag])) { $flags[$flag] = $src[$flag] }
                }
                $sets[$setName] = $flags
            }
            $surface[$pname] = [ordered]@{ type = $parameters[$pname].type; sets = $sets }
        }
        $surface
    }
}

Describe 'ImapMigration.psd1' {
    It 'is a valid module manifest' {
        { Test-ModuleManifest -Path $ManifestPath -ErrorAction Stop } | Should -Not -Throw
    }

    It 'declares the root module, version, PowerShell 7.4 Core and the format file' {
        $data = Import-PowerShellDataFile $ManifestPath
        $data.RootModule | Should -Be 'module/ImapMigration.psm1'
        $data.ModuleVersion | Should -Be '0.1.0'
        [guid]$data.GUID | Should -Not -Be ([guid]::Empty)
        $data.PowerShellVersion | Should -Be '7.4'
        $data.CompatiblePSEditions | Should -Be @('Core')
        $data.FormatsToProcess | Should -Be @('module/ImapMigration.Format.ps1xml')
        Join-Path $RepoRoot $data.FormatsToProcess[0] | Should -Exist
    }

    It 'exports no cmdlets, aliases or variables' {
        $data = Import-PowerShellDataFile $ManifestPath
        @($data.CmdletsToExport).Count | Should -Be 0
        @($data.AliasesToExport).Count | Should -Be 0
        @($data.VariablesToExport).Count | Should -Be 0
    }

    It 'exports exactly the 21 Exchange migration cmdlets and Open-MigrationConsole' -TestCases @{ Expected = $ExpectedCmdlets } {
        param($Expected)
        $exported = (Get-Module ImapMigration).ExportedCommands.Keys | Sort-Object
        $exported | Should -Be ($Expected | Sort-Object)
        (Import-PowerShellDataFile $ManifestPath).FunctionsToExport | Sort-Object | Should -Be ($Expected | Sort-Object)
    }

    It 'does not load the Exchange shim' {
        Get-Module ImapMigration.ExchangeShim | Should -BeNullOrEmpty
        Get-Command Connect-ExchangeOnline -ErrorAction SilentlyContinue | Where-Object ModuleName -eq 'ImapMigration' | Should -BeNullOrEmpty
    }

    It 'has a valid opt-in Exchange shim manifest' {
        $shim = Join-Path $RepoRoot 'module/ImapMigration.ExchangeShim/ImapMigration.ExchangeShim.psd1'
        (Test-ModuleManifest -Path $shim -ErrorAction Stop).ExportedFunctions.Keys | Sort-Object |
            Should -Be @('Connect-ExchangeOnline', 'Disconnect-ExchangeOnline', 'Get-ConnectionInformation')
    }

    It 'offers the same shim as ExchangeOnlineManagement only from module/compat, loading the same file' {
        $compat = Join-Path $RepoRoot 'module/compat/ExchangeOnlineManagement/ExchangeOnlineManagement.psd1'
        $manifest = Test-ModuleManifest -Path $compat -ErrorAction Stop
        $manifest.Name | Should -Be 'ExchangeOnlineManagement'
        $manifest.ExportedFunctions.Keys | Sort-Object | Should -Be @('Connect-ExchangeOnline', 'Disconnect-ExchangeOnline', 'Get-ConnectionInformation')
        # Both module files load the one implementation.
        $implementation = [System.IO.Path]::GetFullPath((Join-Path $RepoRoot 'module/ImapMigration.ExchangeShim/ExchangeShim.ps1'))
        foreach ($psm1 in (Join-Path (Split-Path $compat) (Import-PowerShellDataFile $compat).RootModule),
            (Join-Path $RepoRoot 'module/ImapMigration.ExchangeShim/ImapMigration.ExchangeShim.psm1')) {
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($psm1, [ref]$null, [ref]$null)
            $dotSourced = @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] -and $n.InvocationOperator -eq 'Dot' }, $true))
            $dotSourced.Count | Should -Be 1 -Because $psm1
            $relative = $dotSourced[0].CommandElements[0].Extent.Text -replace "^\(Join-Path \`$PSScriptRoot '(.+)'\)$", '$1'
            [System.IO.Path]::GetFullPath((Join-Path (Split-Path $psm1) $relative)) | Should -Be $implementation -Because $psm1
        }
        # Nothing else in the module tree is a module of that name, so it is found only through
        # module/compat on PSModulePath.
        @(Get-ChildItem -Path (Join-Path $RepoRoot 'module') -Recurse -Filter 'ExchangeOnlineManagement.ps*1' -File |
                Where-Object { (Split-Path $_.FullName) -ne (Split-Path $compat) }).Count | Should -Be 0
        Test-Path (Join-Path $RepoRoot 'module/ExchangeOnlineManagement') | Should -BeFalse
    }
}

Describe 'Help of <Name>' -ForEach $CmdletCases {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Command = Get-Command $Name
    }

    It 'has a synopsis' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match "^\s*$Name\s*(\[|$)"
    }

    It 'has a description' {
        ($Help.Description.Text -join '') | Should -Not -BeNullOrEmpty
    }

    It 'has at least one example with code and remarks' {
        @($Help.Examples.Example).Count | Should -BeGreaterOrEqual 1
        foreach ($example in @($Help.Examples.Example)) {
            $example.Code | Should -Not -BeNullOrEmpty
            ($example.Remarks.Text -join '').Trim() | Should -Not -BeNullOrEmpty
        }
    }

    It 'documents its outputs' {
        ($Help.returnValues.returnValue.type.name -join '') | Should -Not -BeNullOrEmpty
    }

    It 'documents every parameter' {
        $undocumented = foreach ($p in $Command.Parameters.Keys | Where-Object { $_ -notin $CommonParameters }) {
            $ph = Get-Help $Name -Parameter $p -ErrorAction SilentlyContinue
            if (-not $ph -or -not (($ph.Description.Text -join '').Trim())) { $p }
        }
        $undocumented | Should -BeNullOrEmpty
    }
}

Describe 'ShouldProcess of <Name>' -ForEach $StateChangingCases {
    It 'supports -WhatIf and -Confirm' {
        $command = Get-Command $Name
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.Parameters.Keys | Should -Contain 'Confirm'
        ([System.Management.Automation.CommandMetadata]::new($command)).SupportsShouldProcess | Should -BeTrue
    }
}

Describe 'Get cmdlets do not take -WhatIf' {
    It '<_> has no -WhatIf' -ForEach ($ExpectedCmdlets | Where-Object { $_ -like 'Get-*' }) {
        (Get-Command $_).Parameters.Keys | Should -Not -Contain 'WhatIf'
    }
}

Describe 'Confirmation impact' {
    It '<Name> prompts by default (ConfirmImpact High)' -ForEach $HighImpactCases {
        ([System.Management.Automation.CommandMetadata]::new((Get-Command $Name))).ConfirmImpact | Should -Be 'High'
    }
    It '<Name> prompts only with -Confirm (ConfirmImpact below High)' -ForEach $LowerImpactCases {
        ([System.Management.Automation.CommandMetadata]::new((Get-Command $Name))).ConfirmImpact | Should -BeIn @('Low', 'Medium')
    }
}

Describe 'Parameter surface of <Name>' -ForEach $CmdletCases {
    It 'is described in the reference fixture' {
        $Reference.cmdlets.Keys | Should -Contain $Name
    }

    It 'matches the reference: names, types, sets, positions, mandatory flags, pipeline binding' {
        $actual = Get-ParameterSurface -Command (Get-Command $Name)
        $expected = Get-ReferenceSurface -Name $Name
        $differences = @(
            foreach ($p in $expected.Keys) {
                if (-not $actual.Contains($p)) { "missing parameter -$p"; continue }
                if ($actual[$p].type -ne $expected[$p].type) { "-$p has type $($actual[$p].type), expected $($expected[$p].type)" }
                $a = $actual[$p].sets | ConvertTo-Json -Compress -Depth 5
                $e = $expected[$p].sets | ConvertTo-Json -Compress -Depth 5
                if ($a -ne $e) { "-$p has sets $a, expected $e" }
            }
            foreach ($p in $actual.Keys) {
                if (-not $expected.Contains($p)) { "unexpected parameter -$p (add it to the fixture if Exchange has it)" }
            }
        )
        $differences | Should -BeNullOrEmpty
    }

    It 'has the reference default parameter set' {
        $expectedDefault = $Reference.cmdlets[$Name].defaultParameterSet
        $actualDefault = (Get-Command $Name).DefaultParameterSet
        if ($expectedDefault) { $actualDefault | Should -Be $expectedDefault } else { $actualDefault | Should -BeNullOrEmpty }
    }
}

Describe 'Format views' {
    It 'defines a table view for <_>' -ForEach @(
        'MigrationBatch', 'MigrationUser', 'MigrationUserStatistics', 'MigrationEndpoint', 'MigrationStatistics',
        'MigrationConfig', 'TestMigrationServerAvailabilityResult') {
        $data = Get-FormatData -TypeName "ImapMigration.$_"
        $data | Should -Not -BeNullOrEmpty
        $data.FormatViewDefinition.Control | Where-Object { $_ -is [System.Management.Automation.TableControl] } | Should -Not -BeNullOrEmpty
    }

    It 'shows Identity Status Type TotalCount for batches' {
        $headers = (Get-FormatData -TypeName ImapMigration.MigrationBatch).FormatViewDefinition[0].Control.Headers.Label
        $headers | Should -Be @('Identity', 'Status', 'Type', 'TotalCount')
    }

    It 'shows Identity Batch Status LastSyncTime for users' {
        $headers = (Get-FormatData -TypeName ImapMigration.MigrationUser).FormatViewDefinition[0].Control.Headers.Label
        $headers | Should -Be @('Identity', 'Batch', 'Status', 'LastSyncTime')
    }

    It 'shows Identity Batch Status, Items Synced, Items Skipped for user statistics' {
        $headers = (Get-FormatData -TypeName ImapMigration.MigrationUserStatistics).FormatViewDefinition[0].Control.Headers.Label
        $headers | Should -Be @('Identity', 'Batch', 'Status', 'Items Synced', 'Items Skipped')
    }

    It 'shows Identity EndpointType RemoteServer Port Security for endpoints' {
        $headers = (Get-FormatData -TypeName ImapMigration.MigrationEndpoint).FormatViewDefinition[0].Control.Headers.Label
        $headers | Should -Be @('Identity', 'EndpointType', 'RemoteServer', 'Port', 'Security')
    }
}

Describe 'JSON of the native calls' {
    # The module builds requests and reads responses with [ImapMigration.Json] instead of the
    # JSON cmdlets (their first use costs tens of milliseconds); it must read and write the same.
    It 'reads a response as ConvertFrom-Json -DateKind String does' {
        $text = '{"ok":true,"result":[{"Identity":{"Id":"B1"},"Count":3,"Big":18446744073709551615,"Ratio":0.5,' +
            '"When":"2026-02-02T09:30:00Z","Tags":[],"None":null,"Flag":false,"Nested":{"A":[1,"x",{"Z":1}]}}],"warnings":[]}'
        $ours = [ImapMigration.Json]::Parse($text)
        $theirs = $text | ConvertFrom-Json -Depth 100 -DateKind String
        ConvertTo-Json $ours -Depth 20 -Compress | Should -Be (ConvertTo-Json $theirs -Depth 20 -Compress)
        $ours | Should -BeOfType [pscustomobject]
        , $ours.result | Should -BeOfType [object[]]
        $ours.result[0].Count | Should -BeOfType [long]
        $ours.result[0].Big | Should -BeOfType [System.Numerics.BigInteger]
        $ours.result[0].Ratio | Should -BeOfType [double]
        $ours.result[0].When | Should -BeOfType [string]
        @($ours.result[0].PSObject.Properties.Name) | Should -Be @('Identity', 'Count', 'Big', 'Ratio', 'When', 'Tags', 'None', 'Flag', 'Nested')
        $ours.result[0].Tags.Count | Should -Be 0
    }

    It 'writes a request as ConvertTo-Json -Compress does' {
        $request = [ordered]@{
            op = 'batch.new'; name = 'IMAPBatch1'; autoStart = $true; badItemLimit = [long]10; window = [uint64]18446744073709551615
            excludeFolders = @('Deleted Items', "Junk ""Email"""); includeFolders = @(); none = $null
            nested = @{ list = [System.Collections.Generic.List[object]]@(1, 'two') }
            custom = [pscustomobject]@{ A = 1; B = 'b' }; size = [ImapMigration.ByteQuantifiedSize]::FromMB(35)
            text = 'ünïcødé & <tags> ' + [char]0x1F
        }
        $ours = [ImapMigration.Json]::Serialize($request)
        $theirs = ConvertTo-Json -InputObject $request -Depth 20 -Compress
        ($ours | ConvertFrom-Json -AsHashtable | ConvertTo-Json -Depth 20 -Compress) | Should -Be ($theirs | ConvertFrom-Json -AsHashtable | ConvertTo-Json -Depth 20 -Compress)
    }
}
