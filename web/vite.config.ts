// Builds the app into the Python package (services/gateway/webapp/), where the gateway serves it at `/`.
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath } from 'node:url'

export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../services/gateway/webapp', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        // The heavy libraries load only with the pages that draw charts or graphs.
        manualChunks: { echarts: ['echarts/core', 'echarts/charts', 'echarts/components', 'echarts/renderers'],
                        graph: ['sigma', 'graphology', 'graphology-layout', 'graphology-layout-forceatlas2'] },
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8000' } },
})
