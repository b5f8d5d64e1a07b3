import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router'
import { setSession } from './api'
import './style.css'

// `simswarm demo --open` hands the local API key over in the URL's fragment, which never reaches a
// server; it is kept like a session and removed from the address bar at once.
const handed = /^#key=([\w-]{20,200})$/.exec(location.hash)
if (handed) {
  setSession(handed[1], 'local user')
  history.replaceState(null, '', location.pathname + location.search)
}

createApp(App).use(router).mount('#app')
