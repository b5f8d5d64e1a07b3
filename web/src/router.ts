// Pages; the heavy ones (charts, graph) load on demand so the first page stays small.
import { createRouter, createWebHistory } from 'vue-router'
import { session } from './api'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', component: () => import('./views/Landing.vue'), meta: { public: true, title: 'SimSwarm' } },
    { path: '/login', component: () => import('./views/AuthPage.vue'), props: { mode: 'login' }, meta: { public: true, title: 'Log in' } },
    { path: '/register', component: () => import('./views/AuthPage.vue'), props: { mode: 'register' }, meta: { public: true, title: 'Create an account' } },
    { path: '/forgot-password', component: () => import('./views/AccountMail.vue'), props: { mode: 'forgot' }, meta: { public: true, title: 'Forgot password' } },
    { path: '/reset-password', component: () => import('./views/AccountMail.vue'), props: { mode: 'reset' }, meta: { public: true, title: 'New password' } },
    { path: '/verify-email', component: () => import('./views/AccountMail.vue'), props: { mode: 'verify' }, meta: { public: true, title: 'Confirm e-mail' } },
    { path: '/jobs', component: () => import('./views/Dashboard.vue'), meta: { title: 'My simulations' } },
    { path: '/new', component: () => import('./views/Wizard.vue'), meta: { title: 'New simulation' } },
    { path: '/jobs/:id', component: () => import('./views/JobPage.vue'), props: true, meta: { title: 'Simulation' } },
    { path: '/keys', component: () => import('./views/Keys.vue'), meta: { title: 'API keys' } },
    { path: '/profile', component: () => import('./views/Profile.vue'), meta: { title: 'Profile' } },
    { path: '/share/:token', component: () => import('./views/SharePage.vue'), props: true, meta: { public: true, title: 'Shared simulation' } },
    { path: '/:rest(.*)*', component: () => import('./views/NotFound.vue'), meta: { public: true, title: 'Not found' } },
  ],
})

router.beforeEach((to) => {
  if (!to.meta.public && !session.token) return { path: '/login', query: { next: to.fullPath } }
  return true
})

router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? 'SimSwarm')} · SimSwarm`
})
