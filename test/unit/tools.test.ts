// A missing tool fails the tests that need it with a message a clone can act on: the tool's
// name, the variable that points at it, and how to install it; never a path outside the
// repository.
import { describe, expect, it } from 'vitest'
import { actionlintTool, findTool, helmTool, kindTool, kubectlTool, minikubeTool, promtoolTool } from '../helpers/tools.js'

describe('findTool', () => {
  it.each([helmTool, promtoolTool, actionlintTool, kubectlTool, kindTool, minikubeTool])('names $name and how to install it when it is missing', (tool) => {
    const env = { PATH: '/nonexistent' }
    let message = ''
    try {
      findTool(tool, env)
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(new RegExp(`^${tool.name} not found: `))
    if (tool.env) expect(message).toContain(`set ${tool.env} to its path`)
    expect(message).toMatch(/to install it, .*https:\/\//)
    expect(message).not.toContain('../')
  })

  it('takes the variable over PATH, and says when it points nowhere', () => {
    expect(() => findTool(helmTool, { HELM_BIN: '/nonexistent/helm', PATH: '' })).toThrow(/^HELM_BIN=\/nonexistent\/helm is not an executable file\. helm not found/)
    expect(findTool(helmTool, { HELM_BIN: process.execPath })).toBe(process.execPath)
  })

  it('finds the tool on PATH', () => {
    const dir = process.execPath.slice(0, process.execPath.lastIndexOf('/'))
    expect(findTool({ name: 'node', install: '' }, { PATH: `/nonexistent:${dir}` })).toBe(process.execPath)
  })
})
