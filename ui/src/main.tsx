import React from 'react';
import ReactDOM from 'react-dom/client';
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import './app.css';
import './seed';
import './i18n';
import { App } from './App';
import { loadShellCredential } from './api/shell';

const root = document.getElementById('root');
if (root) {
  void loadShellCredential().then(() =>
    ReactDOM.createRoot(root).render(
      <React.StrictMode>
        <App />
      </React.StrictMode>,
    ),
  );
}
