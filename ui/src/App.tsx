import { Suspense, lazy, useEffect, useMemo, useState } from 'react';
import {
  ActionIcon, AppShell, Badge, Burger, Button, type CSSVariablesResolver, Group, Loader, MantineProvider, Menu, NavLink, Notification, Text, Tooltip, createTheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { Notifications } from '@mantine/notifications';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import {
  IconChartBar, IconKey, IconLanguage, IconList, IconLogout, IconMoon, IconPlayerPause, IconPlayerPlay, IconPlugConnected,
  IconServer, IconSettings, IconSun, IconSunMoon, IconUsers,
} from '@tabler/icons-react';
import { useTranslation } from 'react-i18next';
import { HashRouter, Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { ApiError, api, connection, shellManaged } from './api/client';
import { useProxy, useSession, useSetPaused } from './api/hooks';
import { useLive } from './api/live';
import type { Proxy } from './api/types';
import { rememberInShell } from './api/shell';
import { LANGUAGES } from './i18n';
import { LiveContext } from './components/LiveContext';
import { Login } from './pages/Login';
import { ShellProblem } from './pages/ShellProblem';

// Pages load on first visit: the charts (most of the bundle) only with the dashboard.
const Dashboard = lazy(() => import('./pages/Dashboard').then((m) => ({ default: m.Dashboard })));
const Requests = lazy(() => import('./pages/Requests').then((m) => ({ default: m.Requests })));
const Accounts = lazy(() => import('./pages/Accounts').then((m) => ({ default: m.Accounts })));
const Tokens = lazy(() => import('./pages/Tokens').then((m) => ({ default: m.Tokens })));
const Models = lazy(() => import('./pages/Models').then((m) => ({ default: m.Models })));
const Settings = lazy(() => import('./pages/Settings').then((m) => ({ default: m.Settings })));
const Connect = lazy(() => import('./pages/Connect').then((m) => ({ default: m.Connect })));

/** Colours that meet WCAG AA contrast on the app's backgrounds in both schemes: Mantine's
 * dimmed grey is 3.3:1 on white and 3.5:1 on a dark card; these are 7:1 or more. */
const contrast: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': 'var(--mantine-color-gray-7)',
    '--odp-ok-text': 'var(--mantine-color-teal-9)',
    // Light badges and the open page's navigation entry: paler backgrounds under the same
    // dark text; grey outlines in the dimmed grey.
    '--mantine-color-teal-light': 'var(--mantine-color-teal-0)',
    '--mantine-color-blue-light': 'var(--mantine-color-blue-0)',
    '--mantine-color-blue-light-hover': 'var(--mantine-color-blue-1)',
    '--mantine-color-gray-outline': 'var(--mantine-color-gray-7)',
  },
  dark: {
    '--mantine-color-dimmed': 'var(--mantine-color-dark-1)',
    '--odp-ok-text': 'var(--mantine-color-teal-4)',
  },
});

/** The theme, with the words it carries (a toast's close button has a name) in `close`. */
const themeFor = (close: string) =>
  createTheme({
    primaryColor: 'blue',
    // White on blue 6 is 3.5:1; on blue 8, 4.9:1.
    primaryShade: { light: 8, dark: 8 },
    defaultRadius: 'md',
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif',
    components: {
      Notification: Notification.extend({ defaultProps: { closeButtonProps: { 'aria-label': close } } }),
    },
  });

const PAGES = [
  { path: '/dashboard', key: 'nav.dashboard', icon: IconChartBar, element: <Dashboard /> },
  { path: '/requests', key: 'nav.requests', icon: IconList, element: <Requests /> },
  { path: '/accounts', key: 'nav.accounts', icon: IconUsers, element: <Accounts /> },
  { path: '/tokens', key: 'nav.tokens', icon: IconKey, element: <Tokens /> },
  { path: '/models', key: 'nav.models', icon: IconServer, element: <Models /> },
  { path: '/settings', key: 'nav.settings', icon: IconSettings, element: <Settings /> },
  { path: '/connect', key: 'nav.connect', icon: IconPlugConnected, element: <Connect /> },
] as const;

export function App() {
  const { t } = useTranslation();
  const close = t('common.close');
  const theme = useMemo(() => themeFor(close), [close]);
  const [signedOut, setSignedOut] = useState(false);
  const [client] = useState(() => {
    const onError = (error: unknown) => {
      if (error instanceof ApiError && error.unauthorized && !shellManaged()) setSignedOut(true);
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: {
        queries: {
          retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
          refetchOnWindowFocus: false,
          staleTime: 5_000,
        },
      },
    });
  });
  return (
    <MantineProvider theme={theme} defaultColorScheme="auto" cssVariablesResolver={contrast}>
      {/* Over the middle of the header, where nothing is (the name is left, the controls
          right): a toast covers no row and no control, and goes after 3 s. */}
      <Notifications position="top-center" autoClose={3000} containerWidth={340} />
      <QueryClientProvider client={client}>
        <HashRouter>
          {connection().shellError ? (
            <ShellProblem error={connection().shellError!} />
          ) : (
            <Gate signedOut={signedOut} onSignedIn={() => setSignedOut(false)} />
          )}
        </HashRouter>
      </QueryClientProvider>
    </MantineProvider>
  );
}

/** Shows the login page until the admin API answers. */
function Gate({ signedOut, onSignedIn }: { signedOut: boolean; onSignedIn: () => void }) {
  const client = useQueryClient();
  const session = useSession();
  if (session.isPending) {
    return (
      <Group justify="center" mt="xl">
        <Loader />
      </Group>
    );
  }
  const unauthorized = session.error instanceof ApiError && session.error.unauthorized;
  if ((unauthorized || signedOut) && !shellManaged()) {
    return (
      <Login
        onSignedIn={async () => {
          onSignedIn();
          await client.resetQueries();
        }}
      />
    );
  }
  return <Shell version={session.data?.version} demo={session.data?.demo ?? false} />;
}

function Shell({ version, demo }: { version?: string; demo: boolean }) {
  const { t } = useTranslation();
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  const live = useLive(true);
  // Each page opens at its top, not where the previous one was scrolled to.
  useEffect(() => {
    window.scrollTo(0, 0);
  }, [location.pathname]);
  return (
    <LiveContext.Provider value={live}>
      <AppShell
        header={{ height: 52 }}
        navbar={{ width: 190, breakpoint: 'sm', collapsed: { mobile: !opened } }}
        padding="md"
      >
        <AppShell.Header>
          {/* The first stop for the keyboard: past the header and the navigation. A link
              to "#main" would change the route (the pages live in the hash), so it moves
              the focus itself. */}
          <a
            href="#main"
            className="odp-skip-link"
            data-testid="skip-link"
            onClick={(event) => {
              event.preventDefault();
              document.getElementById('main')?.focus();
            }}
          >
            {t('nav.skip')}
          </a>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="xs" wrap="nowrap">
              <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t('nav.menu')} />
              <img src="favicon.svg" width={24} height={24} alt="" />
              <Text fw={700}>OnDemand Proxy</Text>
              {version && (
                <Text size="xs" c="dimmed">
                  v{version}
                </Text>
              )}
              {demo && (
                <Tooltip label={t('header.demoHint')} multiline maw={320}>
                  <Badge color="grape" variant="light" data-testid="demo-badge">
                    {t('header.demo')}
                  </Badge>
                </Tooltip>
              )}
            </Group>
            <Group gap={4} wrap="nowrap">
              <PauseControl live={live.tick?.paused} />
              <Tooltip label={live.connected ? t('live.connected') : t('live.disconnected')}>
                <Text size="xs" c={live.connected ? 'var(--odp-ok-text)' : 'dimmed'} data-testid="live-status">
                  ● {live.connected ? t('live.on') : t('live.off')}
                </Text>
              </Tooltip>
              <LanguageMenu />
              <ThemeToggle />
              {!shellManaged() && <LogoutButton />}
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs">
          {PAGES.map((page) => {
            const current = location.pathname.startsWith(page.path);
            // Real links: they take focus from the keyboard and say which page is open.
            return (
              <NavLink
                key={page.path}
                component={Link}
                to={page.path}
                label={t(page.key)}
                leftSection={<page.icon size={18} stroke={1.6} aria-hidden />}
                active={current}
                aria-current={current ? 'page' : undefined}
                onClick={close}
                data-testid={`nav-${page.path.slice(1)}`}
              />
            );
          })}
        </AppShell.Navbar>
        <AppShell.Main id="main" tabIndex={-1} style={{ outline: 'none' }}>
          <Suspense fallback={<Loader m="md" />}>
            <Routes>
              {PAGES.map((page) => (
                <Route key={page.path} path={page.path} element={page.element} />
              ))}
              <Route path="*" element={<Navigate to="/dashboard" replace />} />
            </Routes>
          </Suspense>
        </AppShell.Main>
      </AppShell>
    </LiveContext.Provider>
  );
}

function LanguageMenu() {
  const { t, i18n } = useTranslation();
  return (
    <Menu position="bottom-end">
      <Menu.Target>
        <Tooltip label={t('header.language')}>
          <ActionIcon variant="subtle" aria-label={t('header.language')} data-testid="language-menu">
            <IconLanguage size={18} />
          </ActionIcon>
        </Tooltip>
      </Menu.Target>
      <Menu.Dropdown>
        {LANGUAGES.map((l) => (
          <Menu.Item
            key={l.code}
            onClick={() => {
              void i18n.changeLanguage(l.code);
              rememberInShell({ language: l.code });
            }}
            fw={i18n.resolvedLanguage === l.code ? 700 : undefined}
            data-testid={`language-${l.code}`}
          >
            {l.label}
          </Menu.Item>
        ))}
      </Menu.Dropdown>
    </Menu>
  );
}

function ThemeToggle() {
  const { t } = useTranslation();
  const { colorScheme, setColorScheme } = useMantineColorScheme();
  const next = colorScheme === 'auto' ? 'light' : colorScheme === 'light' ? 'dark' : 'auto';
  const Icon = colorScheme === 'auto' ? IconSunMoon : colorScheme === 'light' ? IconSun : IconMoon;
  return (
    <Tooltip label={t(`header.theme.${colorScheme}`)}>
      <ActionIcon
        variant="subtle"
        onClick={() => {
          setColorScheme(next);
          rememberInShell({ theme: next });
        }}
        aria-label={t(`header.theme.${colorScheme}`)}
      >
        <Icon size={18} />
      </ActionIcon>
    </Tooltip>
  );
}

/** Pause or resume `/v1/*`: paused, clients get 503 while the dashboard goes on. The tray's
 * pause shows here within a tick. */
function PauseControl({ live }: { live: boolean | undefined }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const proxy = useProxy();
  const setPaused = useSetPaused();
  useEffect(() => {
    if (live !== undefined) client.setQueryData(['proxy'], (old: Proxy | undefined) => ({ ...old, paused: live }));
  }, [live, client]);
  if (proxy.data?.paused) {
    return (
      <Group gap={4} wrap="nowrap">
        <Tooltip label={t('header.pausedHint')}>
          <Badge color="orange" variant="light" data-testid="paused-badge">
            {t('header.paused')}
          </Badge>
        </Tooltip>
        <Button
          size="compact-xs"
          variant="light"
          leftSection={<IconPlayerPlay size={14} />}
          loading={setPaused.isPending}
          onClick={() => setPaused.mutate(false)}
          data-testid="resume"
        >
          {t('header.resume')}
        </Button>
      </Group>
    );
  }
  return (
    <Tooltip label={t('header.pause')}>
      <ActionIcon
        variant="subtle"
        aria-label={t('header.pause')}
        loading={setPaused.isPending}
        onClick={() => setPaused.mutate(true)}
        data-testid="pause"
      >
        <IconPlayerPause size={18} />
      </ActionIcon>
    </Tooltip>
  );
}

function LogoutButton() {
  const { t } = useTranslation();
  const client = useQueryClient();
  return (
    <Tooltip label={t('header.logout')}>
      <ActionIcon
        variant="subtle"
        aria-label={t('header.logout')}
        data-testid="logout"
        onClick={async () => {
          await api('/api/logout', { method: 'POST' }).catch(() => undefined);
          await client.resetQueries();
        }}
      >
        <IconLogout size={18} />
      </ActionIcon>
    </Tooltip>
  );
}
