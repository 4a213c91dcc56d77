; The Windows installer of OnDemand Proxy, built by scripts/windows.sh with makensis:
;   makensis -DVERSION=… -DSOURCE=<dir with the exes> -DOUTFILE=… -DICON=… installer.nsi
; - Per user, no administrator rights: %LOCALAPPDATA%\Programs\OnDemand Proxy, a Start-menu
;   shortcut, and an entry in Settings > Apps (HKCU).
; - Checks for the WebView2 runtime the window needs (Windows 11 ships it) and says where to
;   get it when it is missing.
; - Adds no autostart entry: starting at login is the app's own preference, off by default.
; - The uninstaller removes the program and keeps the user's data (accounts, tokens, usage
;   history) unless asked to delete it.

; 64-bit, as the app is: it also runs under wine64, where the installer is tested.
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel user

!define NAME "OnDemand Proxy"
!define IDENTIFIER "io.github.ondemand-proxy"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${IDENTIFIER}"
; WebView2's Evergreen runtime registers its version under this client id.
!define WEBVIEW2_CLIENT "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"

Name "${NAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
Icon "${ICON}"
UninstallIcon "${ICON}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${NAME} installer"
VIAddVersionKey "LegalCopyright" "OnDemand Proxy contributors"

!include "MUI2.nsh"
!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_FINISHPAGE_RUN "$INSTDIR\ondemand-proxy-desktop.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${NAME}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

; The installer's own questions, in the language its pages use.
LangString WEBVIEW2_MISSING ${LANG_ENGLISH} "${NAME} shows its window with Microsoft's WebView2 runtime, which this computer does not have (Windows 11 includes it).$\r$\n$\r$\nInstall it from ${WEBVIEW2_URL} (the Evergreen Bootstrapper), then start ${NAME}. The proxy itself works without it.$\r$\n$\r$\nOpen that page now?"
LangString WEBVIEW2_MISSING ${LANG_SIMPCHINESE} "${NAME} 的窗口需要 Microsoft WebView2 运行时，这台电脑上没有（Windows 11 自带）。$\r$\n$\r$\n请从 ${WEBVIEW2_URL} 安装（Evergreen Bootstrapper），然后启动 ${NAME}。代理本身不需要它也能运行。$\r$\n$\r$\n现在打开这个页面吗？"
LangString DELETE_DATA ${LANG_ENGLISH} "Also delete your ${NAME} data: accounts, client tokens, settings and usage history?$\r$\n$\r$\nChoose No to keep it for a later install."
LangString DELETE_DATA ${LANG_SIMPCHINESE} "同时删除 ${NAME} 的数据吗？包括账号、客户端令牌、设置和用量历史。$\r$\n$\r$\n选择“否”会保留这些数据，供以后重新安装时使用。"

; Whether the WebView2 runtime is installed: per machine (either registry view) or per user.
Function HasWebView2
  Push $0
  SetRegView 64
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  StrCmp $0 "" 0 check
  ReadRegStr $0 HKLM "SOFTWARE\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  StrCmp $0 "" 0 check
  ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  check:
  SetRegView lastused
  StrCmp $0 "0.0.0.0" 0 +2
    StrCpy $0 ""
  Exch $0
FunctionEnd

Function .onInit
  Call HasWebView2
  Pop $0
  StrCmp $0 "" 0 done
    ; A silent install (/S, as IT departments deploy) goes on without asking.
    MessageBox MB_YESNO|MB_ICONEXCLAMATION "$(WEBVIEW2_MISSING)" /SD IDNO IDNO done
    ExecShell "open" "${WEBVIEW2_URL}"
  done:
FunctionEnd

Section "Install"
  SetShellVarContext current
  SetOutPath "$INSTDIR"
  File "${SOURCE}\ondemand-proxy-desktop.exe"
  File "${SOURCE}\WebView2Loader.dll"
  File "${SOURCE}\ondemand-proxy.exe"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${NAME}.lnk" "$INSTDIR\ondemand-proxy-desktop.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "OnDemand Proxy contributors"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\ondemand-proxy-desktop.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  ; The app may be running (in the tray): it is asked to quit by its single-instance window,
  ; and the files it holds are retried on reboot.
  Delete /REBOOTOK "$INSTDIR\ondemand-proxy-desktop.exe"
  Delete /REBOOTOK "$INSTDIR\ondemand-proxy.exe"
  Delete /REBOOTOK "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${NAME}.lnk"
  ; Starting at login is the app's preference; its entry goes with the program.
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "${NAME}"
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run" "${NAME}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; The data stays unless the user asks (a silent uninstall keeps it).
  MessageBox MB_YESNO|MB_ICONQUESTION|MB_DEFBUTTON2 "$(DELETE_DATA)" /SD IDNO IDNO kept
    RMDir /r "$APPDATA\${IDENTIFIER}"
    RMDir /r "$LOCALAPPDATA\${IDENTIFIER}"
    RMDir /r "$APPDATA\ondemand-proxy"
  kept:
SectionEnd
