package service

import (
	"context"
	"sort"

	"github.com/parleyhq/parley/domain"
)

// Names of the data operations and actions.
const (
	OpUpdateCustomerIdentifier = "update_customer_identifier"
	OpFindConversations        = "find_conversations_by_customer_identifier"
	OpConversationTranscript   = "conversation_transcript"
	OpCloseConversation        = "close_conversation"
	OpSendMessage              = "send_message_to_conversation"

	ActionStartConversation        = "start_conversation_chat_bot"
	ActionUpdateCustomerIdentifier = "update_customer_identifier"
	ActionCloseConversation        = "close_conversation"
)

// execFunc runs an operation inside its transaction. It returns the output
// value, a business outcome (with the value false, empty or nil), or a
// thrown error. It must decide every outcome before it writes anything.
type execFunc func(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error)

type operation struct {
	kind         domain.RunKind
	name         string
	inputs       []InputSpec
	variable     string // default output variable; "" for actions
	deployedOnly bool
	// readOnly operations write nothing but their run (and, inside a
	// session, the output variable).
	readOnly bool
	// oneRead: a read-only run reads one statement of the store (beside
	// its key check), so it needs no snapshot shared between statements
	// (domain.Store.ViewLatest).
	oneRead bool
	exec    execFunc
}

// OperationInfo describes a data operation or action, for documentation.
type OperationInfo struct {
	Kind         domain.RunKind
	Name         string
	Inputs       []InputSpec
	Variable     string
	DeployedOnly bool
}

var dataOperations = map[string]operation{
	OpUpdateCustomerIdentifier: {
		inputs: []InputSpec{
			{Name: "conversationId", Type: InputID, Required: true},
			{Name: "customerIdentifier", Type: InputIdentifier, Required: true},
		},
		variable: "customer-identifier", deployedOnly: true, exec: execUpdateIdentifier,
	},
	OpFindConversations: {
		inputs: []InputSpec{
			{Name: "customerIdentifier", Type: InputIdentifier, Required: true},
			{Name: "asOf", Type: InputTime},
		},
		variable: "conversation-ids", readOnly: true, oneRead: true, exec: execFind,
	},
	OpConversationTranscript: {
		inputs:   []InputSpec{{Name: "conversation", Type: InputID, Required: true}},
		variable: "conversation", deployedOnly: true, readOnly: true, exec: execTranscript,
	},
	OpCloseConversation: {
		inputs:   []InputSpec{{Name: "conversation", Type: InputID, Required: true}},
		variable: "conversation", deployedOnly: true, exec: execClose,
	},
	OpSendMessage: {
		inputs: []InputSpec{
			{Name: "conversation", Type: InputID},
			{Name: "message", Type: InputMessage, Required: true},
			{Name: "createIfNeeded", Type: InputBoolean},
			{Name: "resourceId", Type: InputID},
			{Name: "externalId", Type: InputText},
			{Name: "customerDestination", Type: InputText},
			{Name: "customerIdentifier", Type: InputIdentifier},
		},
		variable: "messages", exec: execSend,
	},
}

var actions = map[string]operation{
	ActionStartConversation: {
		inputs: []InputSpec{
			{Name: "deploymentId", Type: InputID, Required: true},
			{Name: "resourceId", Type: InputID, Required: true},
			{Name: "externalId", Type: InputText},
			{Name: "customerDestination", Type: InputText, Required: true},
			{Name: "customerIdentifier", Type: InputIdentifier},
		},
		exec: execStartAction,
	},
	ActionUpdateCustomerIdentifier: {
		inputs:       []InputSpec{{Name: "customerIdentifier", Type: InputIdentifier, Required: true}},
		deployedOnly: true, exec: execUpdateIdentifierAction,
	},
	ActionCloseConversation: {
		deployedOnly: true, exec: execCloseAction,
	},
}

// Operations lists the data operations and actions, sorted by kind and name.
func Operations() []OperationInfo {
	var out []OperationInfo
	for _, table := range []struct {
		kind domain.RunKind
		ops  map[string]operation
	}{{domain.KindDataOperation, dataOperations}, {domain.KindAction, actions}} {
		for name, op := range table.ops {
			out = append(out, OperationInfo{Kind: table.kind, Name: name, Inputs: op.inputs, Variable: op.variable, DeployedOnly: op.deployedOnly})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// lookupOperation finds an operation by kind and name.
// Errors: invalid_argument.
func lookupOperation(kind domain.RunKind, name string) (operation, error) {
	table, noun := dataOperations, "data operation"
	if kind == domain.KindAction {
		table, noun = actions, "action"
	} else if kind != domain.KindDataOperation {
		return operation{}, invalidf("unknown kind %q", kind)
	}
	op, ok := table[name]
	if !ok {
		return operation{}, domain.Errorf(domain.CodeInvalidArgument, "unknown %s %q", noun, truncate(name, 80))
	}
	op.kind, op.name = kind, name
	return op, nil
}

// outputVariable returns the variable the output is written to.
func (op operation) outputVariable(rename string) (string, error) {
	if rename == "" {
		return op.variable, nil
	}
	if op.variable == "" {
		return "", invalidf("action %s has no output variable to rename", op.name)
	}
	return rename, checkVariable(rename)
}

func execUpdateIdentifier(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	id := domain.ConversationID(rc.args.text("conversationId"))
	return s.updateIdentifier(ctx, rc.tx, rc.org, id, rc.args.text("customerIdentifier"))
}

func execFind(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	ids, err := s.findConversations(ctx, rc.tx, rc.org, rc.args.text("customerIdentifier"), rc.args.time("asOf"))
	return ids, nil, err
}

func execTranscript(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	conv, err := getConversation(ctx, rc.tx, rc.org, domain.ConversationID(rc.args.text("conversation")))
	if outcome, err := asOutcome(err); outcome != nil || err != nil {
		return nil, outcome, err
	}
	if err := requireDeployed(conv); err != nil {
		return nil, nil, err
	}
	t, err := transcript(ctx, rc.tx, conv)
	return t, nil, err
}

func execClose(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	conv, err := lockConversation(ctx, rc.tx, rc.org, domain.ConversationID(rc.args.text("conversation")))
	if outcome, err := asOutcome(err); outcome != nil || err != nil {
		return false, outcome, err
	}
	return s.closeDeployed(ctx, rc.tx, conv)
}

// closeDeployed closes a deployed conversation; closing a closed one is the
// conversation_closed outcome.
func (s *Service) closeDeployed(ctx context.Context, tx domain.Tx, conv domain.Conversation) (any, *domain.Error, error) {
	if err := requireDeployed(conv); err != nil {
		return false, nil, err
	}
	_, err := s.closeConversation(ctx, tx, conv)
	outcome, err := asOutcome(err)
	return outcome == nil && err == nil, outcome, err
}

func execSend(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	create := rc.args.flag("createIfNeeded")
	if id := rc.args.text("conversation"); id != "" {
		conv, err := lockConversation(ctx, rc.tx, rc.org, domain.ConversationID(id))
		outcome, err := asOutcome(err)
		if err != nil {
			return false, nil, err
		}
		if outcome == nil {
			if err := requireDeployed(conv); err != nil {
				return false, nil, err
			}
			if conv.Status == domain.StatusLive {
				_, err := s.appendMessage(ctx, rc.tx, conv, domain.AuthorBot, rc.args.text("message"), "")
				return err == nil, nil, err
			}
			outcome = closedError(conv.ID)
		}
		if !create {
			return false, outcome, nil
		}
	} else if !create {
		return false, nil, invalidf("conversation is required unless createIfNeeded is true")
	}
	conv, err := s.startForSend(ctx, rc)
	if err != nil {
		return false, nil, err
	}
	_, err = s.appendMessage(ctx, rc.tx, conv, domain.AuthorBot, rc.args.text("message"), "")
	return err == nil, nil, err
}

// startForSend starts the conversation send_message_to_conversation creates
// when needed: on the active deployment of the calling conversation's app
// and environment. Errors: invalid_argument, not_deployed.
func (s *Service) startForSend(ctx context.Context, rc *runContext) (domain.Conversation, error) {
	if rc.conv == nil {
		return domain.Conversation{}, invalidf("createIfNeeded needs a sessionId: the new conversation starts on the deployment of the session's conversation")
	}
	if err := requireDeployed(*rc.conv); err != nil {
		return domain.Conversation{}, err
	}
	for _, name := range []string{"resourceId", "customerDestination"} {
		if rc.args.text(name) == "" {
			return domain.Conversation{}, invalidf("%s is required to create a conversation", name)
		}
	}
	calling, err := rc.tx.GetDeployment(ctx, rc.org, rc.conv.DeploymentID)
	if err != nil {
		return domain.Conversation{}, err
	}
	active, err := rc.tx.ActiveDeployment(ctx, rc.org, calling.AppID, calling.Environment)
	if domain.IsNotFound(err) {
		return domain.Conversation{}, domain.Errorf(domain.CodeNotDeployed, "app %s has no active deployment in %s", calling.AppID, calling.Environment)
	}
	if err != nil {
		return domain.Conversation{}, err
	}
	st, err := s.startConversation(ctx, rc.tx, rc.org, conversationStart{
		deployment: &active, Party: partyOf(rc.args),
	})
	return st.Conversation, err
}

func execStartAction(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	st, err := s.startOnDeployment(ctx, rc.tx, rc.org, domain.DeploymentID(rc.args.text("deploymentId")), conversationStart{
		Party: partyOf(rc.args),
	})
	if err != nil {
		return nil, nil, err
	}
	return map[string]any{
		"conversationId": string(st.Conversation.ID), "sessionId": string(st.Session.ID),
		"customerId": string(st.Customer.ID),
	}, nil, nil
}

func execUpdateIdentifierAction(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	conv, err := currentConversation(rc)
	if err != nil {
		return false, nil, err
	}
	return s.updateIdentifier(ctx, rc.tx, rc.org, conv.ID, rc.args.text("customerIdentifier"))
}

func execCloseAction(s *Service, ctx context.Context, rc *runContext) (any, *domain.Error, error) {
	conv, err := currentConversation(rc)
	if err != nil {
		return false, nil, err
	}
	return s.closeDeployed(ctx, rc.tx, conv)
}

// currentConversation is the conversation an action acts on: its session's.
func currentConversation(rc *runContext) (domain.Conversation, error) {
	if rc.conv == nil {
		return domain.Conversation{}, invalidf("this action acts on the current conversation: give the sessionId of a conversation")
	}
	return *rc.conv, nil
}

// partyOf reads the party inputs (already validated and normalized) of
// start_conversation_chat_bot and send_message_to_conversation.
func partyOf(a args) Party {
	return Party{
		ResourceID: domain.ResourceID(a.text("resourceId")), ExternalID: a.text("externalId"),
		CustomerDestination: a.text("customerDestination"), CustomerIdentifier: a.text("customerIdentifier"),
	}
}
